"""A real cluster for bus tests: broker, one database per probe service, worker processes."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from probe_common import Effect, ProbeHappened
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_db_engine
from switchboard_shared.direct import send_to_queue
from switchboard_shared.liveness import read
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.records import DeadLetter, InboxRecord, OutboxMessage
from switchboard_shared.redis_checks import redis_client
from switchboard_shared.runtime import ServiceDefinition, ServiceRuntime
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.testsupport import (
    TcpProxy,
    WorkerProcess,
    pg_database,
    rabbit_vhost,
    redis_database,
    wait_until,
)

SUPPORT = Path(__file__).parents[1] / "support"
# Each broker paired with a database, so both databases carry every bus suite:
# `@pytest.fixture(scope="module", **PAIRINGS)` and `broker, database = request.param`.
PAIRINGS: dict[str, Any] = {
    "params": [("redis", "sqlite"), ("rabbitmq", "postgresql")],
    "ids": ["redis-sqlite", "rabbitmq-postgresql"],
}
SERVICES = ("alpha", "beta", "gamma")


def via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] + f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass
class BusCluster:
    broker: str
    broker_url: str
    redis_url: str
    database_urls: dict[str, str]
    scratch: Path
    workers: dict[str, WorkerProcess] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {
            "SWITCHBOARD_BROKER_URL": self.broker_url,
            "SWITCHBOARD_REDIS_URL": self.redis_url,
            "SWITCHBOARD_RETRY_BASE_SECONDS": "1.0",
            "SWITCHBOARD_MAX_DELIVERIES": "3",
            "SWITCHBOARD_DATA_DIR": str(self.scratch),
            "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
        }
        env.update({f"{s.upper()}_DATABASE_URL": url for s, url in self.database_urls.items()})
        return env | self.extra_env

    def start(self, service: str, concurrency: int = 1) -> WorkerProcess:
        worker = WorkerProcess(
            f"probe_{service}", self.env(), self.scratch / f"{service}.log", concurrency=concurrency
        ).start(timeout=90)  # a loaded shared machine can take over 30 s to boot a worker
        self.workers[service] = worker
        return worker

    def producer(self, broker_url: str | None = None) -> ServiceRuntime:
        """The publishing side, in this process: a service with no handlers of its own."""
        definition = ServiceDefinition(
            name="source",
            command_queues=["source.normal"],
            registry=HandlerRegistry(),
            settings=ServiceSettings(database_url=f"sqlite:///{self.scratch / 'source.db'}"),
            platform=PlatformSettings(
                broker_url=broker_url or self.broker_url, redis_url=self.redis_url
            ),
        )
        runtime: ServiceRuntime = create_service_app(definition).runtime  # type: ignore[attr-defined]
        runtime.create_schema()
        return runtime

    def publish(self, runtime: ServiceRuntime, probe_id: str, **actions: str) -> str:
        event = ProbeHappened(probe_id=probe_id, actions=actions, scratch_dir=str(self.scratch))
        with runtime.uow(MessageContext.new(probe_id)) as uow:
            uow.publish(event)
            uow.commit()
        return probe_id

    def outbox_envelope(self, runtime: ServiceRuntime, probe_id: str) -> dict[str, Any]:
        """The envelope the producer published for a probe, to deliver it again."""
        with runtime.session_factory() as session:
            probe = OutboxMessage.envelope["data"]["probe_id"].as_string()
            return dict(
                session.scalars(select(OutboxMessage).where(probe == probe_id)).one().envelope
            )

    def session(self, service: str) -> Session:
        return Session(create_db_engine(self.database_urls[service]))

    def effects(self, service: str, probe_id: str, by: str | None = None) -> int:
        """Effect rows for the probe in the service's database (`by`: only this writer's)."""
        query = select(func.count()).select_from(Effect).where(Effect.probe_id == probe_id)
        if by is not None:
            query = query.where(Effect.service == by)
        with self.session(service) as s:
            return s.scalar(query) or 0

    def inbox_count(self, service: str) -> int:
        with self.session(service) as s:
            return s.scalar(select(func.count()).select_from(InboxRecord)) or 0

    def inbox_handlers(self, service: str) -> Counter[str]:
        """Inbox rows per handler name (its last dotted part)."""
        with self.session(service) as s:
            names = s.scalars(select(InboxRecord.handler))
            return Counter(name.rsplit(".", 1)[-1] for name in names)

    def dead_letters(self, service: str) -> list[DeadLetter]:
        with self.session(service) as s:
            return list(s.scalars(select(DeadLetter).order_by(DeadLetter.created_at)))

    def attempts(self, service: str, probe_id: str) -> list[float]:
        path = self.scratch / f"{service}-{probe_id}.attempts"
        if not path.exists():
            return []
        return [float(line.split()[0]) for line in path.read_text().splitlines()]

    def wait_effects(
        self, service: str, probe_id: str, count: int = 1, timeout: float = 30
    ) -> None:
        wait_until(lambda: self.effects(service, probe_id) >= count, timeout)

    @cached_property
    def ops_client(self) -> Celery:
        """A client that is no service (an operator's tool, an intruder): the broker only."""
        client = Celery("ops", broker=self.broker_url, set_as_current=False)
        client.conf.update(task_serializer="json", accept_content=["json"])
        return client

    def probe_liveness(
        self, service: str, queues: list[str], max_age: float = 5.0, settle: float = 1.0
    ) -> list[bool]:
        """Send the service's liveness probe, wait `settle`, and read whether each of `queues`
        answered within `max_age`."""
        send_to_queue(self.ops_client, f"{service}.liveness_probe", f"{service}.normal")
        time.sleep(settle)
        return [q.healthy for q in read(redis_client(self.redis_url), service, queues, max_age)]

    def wait_live(self, service: str, queues: list[str], timeout: float = 30) -> None:
        """Probe until every one of `queues` answers."""
        wait_until(lambda: all(self.probe_liveness(service, queues)), timeout)


@contextmanager
def bus_cluster(
    broker: str,
    database: str,
    scratch: Path,
    services: tuple[str, ...] = SERVICES,
    env: dict[str, str] | None = None,
) -> Iterator[BusCluster]:
    with ExitStack() as stack:
        redis_url = stack.enter_context(redis_database())
        broker_url = redis_url if broker == "redis" else stack.enter_context(rabbit_vhost())
        if database == "sqlite":
            urls = {s: f"sqlite:///{scratch / s}.db" for s in services}
        else:
            urls = {s: stack.enter_context(pg_database()) for s in services}
        cluster = BusCluster(broker, broker_url, redis_url, urls, scratch, extra_env=env or {})
        try:
            for service in services:
                cluster.start(service, concurrency=2 if service == "alpha" else 1)
            yield cluster
        finally:
            for worker in cluster.workers.values():
                worker.stop()


def proxy_for(url: str) -> TcpProxy:
    parts = urlsplit(url)
    return TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
