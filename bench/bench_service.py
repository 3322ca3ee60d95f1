"""The bench's sink service: one event handler doing one small DB write (plus the kit's inbox).

`celery -A bench_service worker` with `bench/` on PYTHONPATH; configured from the environment:
BENCH_BROKER_URL, BENCH_REDIS_URL, BENCH_DATABASE_URL (the sink's own database),
BENCH_BATCH_EVENTS=1 (consume events in batches).
"""

from __future__ import annotations

import json
import os
import time
from typing import ClassVar

from celery import Celery
from sqlalchemy import Float, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.contracts import Event, register_event
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.uow import UnitOfWork

SINK = "benchsink"
SOURCE = "benchsrc"


@register_event
class BenchHappened(Event):
    type: ClassVar[str] = "bench-happened"
    producer: ClassVar[str] = SOURCE

    seq: int
    phase: str
    sent_at: float  # time.time() taken just before the producer's uow.commit()


class Base(DeclarativeBase):
    metadata = MetaData()


class BenchEffect(Base):
    """One row per handled event: when it was sent and when the handler wrote it."""

    __tablename__ = "bench_effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer)
    phase: Mapped[str] = mapped_column(String(20))
    sent_at: Mapped[float] = mapped_column(Float)
    handled_at: Mapped[float] = mapped_column(Float)


registry = HandlerRegistry()


@registry.on(BenchHappened)
def record(event: BenchHappened, uow: UnitOfWork) -> None:
    uow.session.add(
        BenchEffect(seq=event.seq, phase=event.phase, sent_at=event.sent_at, handled_at=time.time())
    )


def build(
    service: str,
    broker_url: str,
    redis_url: str,
    database_url: str,
    handlers: bool = True,
    batch_events: bool = False,
) -> Celery:
    """A kit service app; the sink has the handler, the source (producer) has none.

    `batch_events`: the sink consumes its events queue in batches (ADR 0022), else as one
    Celery task per event."""
    definition = ServiceDefinition(
        name=service,
        command_queues=[f"{service}.normal"],
        registry=registry if handlers else HandlerRegistry(),
        settings=ServiceSettings(database_url=database_url),
        metadata=Base.metadata if handlers else None,
        platform=PlatformSettings(broker_url=broker_url, redis_url=redis_url),
        batch_events=batch_events,
    )
    app = create_service_app(definition)
    # Profiling experiments only (`--sink-conf`): Celery settings laid over the kit's.
    app.conf.update(json.loads(os.environ.get("BENCH_SINK_CONF") or "{}"))
    return app


def __getattr__(name: str) -> Celery:
    """`app`, built on first use (by `celery -A bench_service`), from the environment."""
    if name != "app":
        raise AttributeError(name)
    global app
    app = build(
        SINK,
        os.environ["BENCH_BROKER_URL"],
        os.environ.get("BENCH_REDIS_URL") or os.environ["BENCH_BROKER_URL"],
        os.environ["BENCH_DATABASE_URL"],
        batch_events=os.environ.get("BENCH_BATCH_EVENTS") == "1",
    )
    return app
