"""What one service process holds: its database, outbox relay and stores, built lazily after fork."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from celery import Celery
from sqlalchemy import Engine, MetaData
from sqlalchemy.orm import Session, sessionmaker

from .context import MessageContext
from .contracts import Event
from .db import create_all, create_db_engine, create_session_factory
from .deadletters import DeadLetterStore, DeliveryCounter
from .messagebus import HandlerRegistry
from .outbox import OutboxRelay
from .publisher import CeleryEventPublisher
from .redis_checks import redis_client
from .settings import PlatformSettings, ServiceSettings
from .topology import batched_events_queue_name, events_queue_name
from .uow import SqlAlchemyUnitOfWork


@dataclass
class ServiceDefinition:
    """Everything that makes a service itself; the kit turns it into a Celery app."""

    name: str
    command_queues: list[str]
    registry: HandlerRegistry
    settings: ServiceSettings
    metadata: MetaData | None = None
    beat_schedule: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_routes: dict[str, dict[str, Any]] = field(default_factory=dict)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    on_runtime: Callable[[ServiceRuntime], None] | None = None
    # Consume events in batches (switchboard_shared.batching, ADR 0022) instead of one Celery
    # task per event: True for every event type, or the event types to batch; their handlers
    # must keep their effects in the service's database (no adapter parameters). When only
    # some types are batched they get a queue of their own (ADR 0022, addendum 4).
    batch_events: bool | tuple[type[Event], ...] = False
    # With batch_events: how long a batch is held open after its first event for more to join
    # (a read model that may lag by this much); 0: it goes as soon as no further one is ready.
    event_batch_window: float = 0.0

    @property
    def batched_types(self) -> frozenset[str]:
        """The event types the batch consumer handles (none: every event is a Celery task)."""
        if self.batch_events is True:
            return frozenset(self.registry.subscriptions)
        if not self.batch_events:
            return frozenset()
        return frozenset(model.type for model in self.batch_events)

    @property
    def task_event_types(self) -> list[str]:
        """The event types handled one Celery task each, from the service's events queue."""
        return [t for t in self.registry.subscriptions if t not in self.batched_types]

    @property
    def batches_apart(self) -> bool:
        """Some event types batched and some not: the batched ones have a queue of their own."""
        return bool(self.batched_types) and bool(self.task_event_types)

    @property
    def batch_queue(self) -> str | None:
        """The queue the batch consumer reads: the events queue when every event type is
        batched, a queue of its own when only some are."""
        if not self.batched_types:
            return None
        return (
            batched_events_queue_name(self.name)
            if self.batches_apart
            else events_queue_name(self.name)
        )

    @property
    def default_queue(self) -> str:
        normal = [q for q in self.command_queues if q.endswith(".normal")]
        return normal[0] if normal else self.command_queues[0]


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition, app: Celery) -> None:
        self.definition = definition
        self.app = app
        self.service = definition.name
        self.platform = definition.platform

    @cached_property
    def database_url(self) -> str:
        return self.definition.settings.resolved_database_url(self.service, self.platform)

    @cached_property
    def engine(self) -> Engine:
        return create_db_engine(self.database_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return create_session_factory(self.engine)

    @cached_property
    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            self.session_factory,
            CeleryEventPublisher(
                self.app, bindings_ttl=self.definition.platform.event_bindings_ttl_seconds
            ),
            mark_delay=self.definition.platform.outbox_mark_delay_seconds,
        )

    def flush_outbox_marks(self) -> None:
        """Mark what this process published and has not marked yet (on worker shutdown)."""
        relay: OutboxRelay | None = self.__dict__.get("relay")  # only if this process made one
        if relay is not None and relay.marks is not None:
            relay.marks.flush()

    @cached_property
    def dead_letters(self) -> DeadLetterStore:
        return DeadLetterStore(self.session_factory, self.service)

    @cached_property
    def delivery_counter(self) -> DeliveryCounter:
        return DeliveryCounter(self.session_factory)

    @cached_property
    def redis(self) -> Any:
        return redis_client(self.platform.effective_redis_url)

    def uow(self, context: MessageContext) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.session_factory, service=self.service, context=context, relay=self.relay
        )

    def create_schema(self) -> None:
        """Apply the kit's and the service's Alembic migrations (safe from several workers).

        A service with no `switchboard_<name>/migrations/versions` (one defined in a test) gets
        the kit's migrations and `create_all` for its own tables.
        """
        from .migrate import service_versions_dir, upgrade

        versions_dir = service_versions_dir(self.service)
        upgrade(self.database_url, self.service, self.definition.metadata, versions_dir)
        if versions_dir is None and self.definition.metadata is not None:
            create_all(self.engine, self.definition.metadata)

    def after_fork(self) -> None:
        """Forked children must not share the parent's pooled connections."""
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)
        self.__dict__.pop("redis", None)
