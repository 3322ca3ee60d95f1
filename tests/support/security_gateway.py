"""The gateway app as the security tests attack it: in process, with the real Celery sender,
over real brokers and databases (the `tests/security` files)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_shared.testsupport import WorkerProcess, pg_database, redis_database

API_KEY = "security-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Passed by their environment names, which every version of the settings accepts.
PROVIDER_SECRETS = {
    "STRIPE_WEBHOOK_SECRET": "whsec_security_tests",
    "TWILIO_AUTH_TOKEN": "twilio_security_tests",
}
WORKER_START_SECONDS = 120.0  # several workers importing at once on a loaded 2-core machine
ORDER: dict[str, Any] = {
    "customer": {"email": "ada@example.com"},
    "category": "cnc-machining",
    "region": "eu-west",
    "items": [{"sku": "bracket", "quantity": 3, "unit_amount": 1250}],
    "currency": "usd",
}


def gateway_settings(data_dir: Path, broker_url: str, redis_url: str, **fields: Any) -> Any:
    values = {"api_keys": API_KEY, "broker_url": broker_url, "redis_url": redis_url}
    values.update(data_dir=data_dir, **fields)
    return GatewaySettings(**PROVIDER_SECRETS, **values)


@contextmanager
def gateway_database(url: str) -> Iterator[None]:
    """The gateway's database is read from `GATEWAY_DATABASE_URL` when its store first opens."""
    before = os.environ.get("GATEWAY_DATABASE_URL")
    os.environ["GATEWAY_DATABASE_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GATEWAY_DATABASE_URL", None)
        else:
            os.environ["GATEWAY_DATABASE_URL"] = before


@contextmanager
def gateway_client(settings: Any, database_url: str) -> Iterator[TestClient]:
    """The app with its database opened (and migrated) before the first request."""
    with gateway_database(database_url), TestClient(create_app(settings)) as client:
        client.app.state.store.get()  # type: ignore[attr-defined]
        yield client


@dataclass
class LiveGateway:
    """The gateway app and real workers on one Redis broker, every database on PostgreSQL."""

    client: TestClient
    env: dict[str, str]
    workers: dict[str, WorkerProcess]

    def database_url(self, service: str) -> str:
        return self.env[f"{service.upper()}_DATABASE_URL"]


def _start_all(workers: dict[str, WorkerProcess]) -> None:
    with ThreadPoolExecutor(max(len(workers), 1)) as pool:
        starts = [pool.submit(worker.start, WORKER_START_SECONDS) for worker in workers.values()]
    try:
        for started in starts:
            started.result()
    except BaseException:
        for worker in workers.values():
            worker.stop()
        raise


@contextmanager
def live_gateway(data: Path, *services: str) -> Iterator[LiveGateway]:
    """`services` (e.g. "orders", "gateway" for the event log) as real worker processes."""
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_RETRY_BASE_SECONDS": "0.2",
            "SWITCHBOARD_LOG_JSON": "false",
            "GATEWAY_DATABASE_URL": stack.enter_context(pg_database()),
            **PROVIDER_SECRETS,
        }
        for service in services:
            env.setdefault(f"{service.upper()}_DATABASE_URL", stack.enter_context(pg_database()))
        workers = {
            s: WorkerProcess(f"switchboard_{s}.app", env, data / f"{s}.log") for s in services
        }
        _start_all(workers)
        for worker in workers.values():
            stack.callback(worker.stop)
        settings = gateway_settings(data, broker, broker)
        client = stack.enter_context(gateway_client(settings, env["GATEWAY_DATABASE_URL"]))
        yield LiveGateway(client, env, workers)
