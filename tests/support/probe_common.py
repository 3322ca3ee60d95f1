"""Probe services for the bus reliability tests: real kit apps whose handlers do what the
event asks of them (write, crash, hang, fail validation, fail on the network) per service."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from celery import Celery
from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.contracts import Event, register_event
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.records import utcnow
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.uow import UnitOfWork


@register_event
class ProbeHappened(Event):
    type: ClassVar[str] = "probe-happened"
    producer: ClassVar[str] = "source"

    probe_id: str
    actions: dict[str, str]
    scratch_dir: str


@register_event
class OtherHappened(Event):
    type: ClassVar[str] = "other-happened"
    producer: ClassVar[str] = "source"

    probe_id: str


class Base(DeclarativeBase):
    metadata = MetaData()


class Effect(Base):
    """One row per handler effect; exactly-once means exactly one row per (probe, service)."""

    __tablename__ = "effects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    probe_id: Mapped[str] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


def _attempt(scratch: str, service: str, probe_id: str) -> int:
    """Count calls outside the database (a rolled-back transaction must not hide them)."""
    path = Path(scratch) / f"{service}-{probe_id}.attempts"
    with path.open("a") as f:
        f.write(f"{time.time()} {os.getpid()}\n")
    return len(path.read_text().splitlines())


def build(service: str, subscribe_other_only: bool = False) -> tuple[Celery, ServiceDefinition]:
    registry = HandlerRegistry()

    def handle_probe(event: ProbeHappened, uow: UnitOfWork) -> None:
        attempt = _attempt(event.scratch_dir, service, event.probe_id)
        action = event.actions.get(service, "write")
        if action == "hang_once" and attempt == 1:
            Path(event.scratch_dir, f"{service}-{event.probe_id}.pid").write_text(str(os.getpid()))
            time.sleep(60)
        elif action == "crash":
            Path(event.scratch_dir, f"{service}-{event.probe_id}.pid").write_text(str(os.getpid()))
            os.kill(os.getpid(), 9)
        elif action == "invalid":
            raise ValidationFailure(f"probe {event.probe_id} is not acceptable to {service}")
        elif action.startswith("flaky:") and attempt <= int(action.split(":")[1]):
            raise ConnectionRefusedError(111, "provider unreachable (probe)")
        uow.session.add(Effect(probe_id=event.probe_id, service=service))

    def handle_other(event: OtherHappened, uow: UnitOfWork) -> None:
        uow.session.add(Effect(probe_id=event.probe_id, service=service))

    if subscribe_other_only:
        registry.on(OtherHappened)(handle_other)
    else:
        registry.on(ProbeHappened)(handle_probe)
    definition = probe_definition(service, registry)
    return create_service_app(definition), definition


def probe_definition(service: str, registry: HandlerRegistry, **options: Any) -> ServiceDefinition:
    """A probe service: its `<service>.normal` queue, its database from
    `<SERVICE>_DATABASE_URL`, the effects table; `options` for the rest (`batch_events`)."""
    return ServiceDefinition(
        name=service,
        command_queues=[f"{service}.normal"],
        registry=registry,
        settings=ServiceSettings(
            database_url=os.environ.get(f"{service.upper()}_DATABASE_URL", "")
        ),
        metadata=Base.metadata,
        platform=PlatformSettings(),
        **options,
    )
