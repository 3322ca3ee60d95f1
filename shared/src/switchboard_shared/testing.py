"""In-memory harness: fake unit of work, recording publisher and an in-process bus; sample
events for the services' tests.

Runs a cross-service flow inside pytest in milliseconds. It complements the real-broker
tests; it never replaces them.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from .context import MessageContext
from .contracts import Command, Envelope, Event
from .contracts.orders import OrderCreated
from .envelopes import wrap
from .messagebus import HandlerRegistry, handle_command, handle_event
from .outbox import OutboxRelay
from .uow import DuplicateMessage, SqlAlchemyUnitOfWork, UnitOfWork


class RecordingPublisher:
    """An `EventPublisher` that keeps what it was given; `fail` makes it act like a down broker."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = False

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable (RecordingPublisher.fail)")
        self.published.extend(envelopes)

    @property
    def types(self) -> list[str]:
        return [e["type"] for e in self.published]


@dataclass
class FakeStore:
    """A service's state: whatever the handlers keep, plus the kit's inbox and outbox."""

    data: dict[str, Any] = field(default_factory=dict)
    inbox: dict[tuple[str, str], Any] = field(default_factory=dict)
    publisher: RecordingPublisher = field(default_factory=RecordingPublisher)


class FakeUnitOfWork:
    """Commits are all-or-nothing: staged writes to `data` and events apply only on commit."""

    def __init__(self, store: FakeStore, *, service: str, context: MessageContext) -> None:
        self.store = store
        self.service = service
        self.context = context
        self.session: Any = None
        self.committed = False

    def __enter__(self) -> Self:
        self.data = dict(self.store.data)
        self._inbox: dict[tuple[str, str], Any] = {}
        self._events: list[Envelope] = []
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    def publish(self, event: Event, *, subject: str | None = None) -> None:
        self._events.append(
            wrap(event, service=self.service, context=self.context, subject=subject)
        )

    def handled_result(self, message_id: str, handler: str) -> Any:
        return self.store.inbox.get((message_id, handler))

    def record_handled(self, message_id: str, handler: str, result: Any = None) -> None:
        if (message_id, handler) in self.store.inbox or (message_id, handler) in self._inbox:
            raise DuplicateMessage(f"{message_id} already handled by {handler}")
        self._inbox[(message_id, handler)] = result

    def store_result(self, message_id: str, handler: str, result: Any) -> None:
        self._inbox[(message_id, handler)] = result

    def commit(self) -> None:
        self.store.data = self.data
        self.store.inbox.update(self._inbox)
        self.store.publisher.publish([e.model_dump(mode="json") for e in self._events])
        self.committed = True
        self.rollback()

    def rollback(self) -> None:
        self.data = dict(self.store.data)
        self._inbox = {}
        self._events = []


@dataclass
class InProcessService:
    """One service in the harness: fake state, or a real (in-memory SQLite) session factory."""

    name: str
    registry: HandlerRegistry
    session_factory: sessionmaker[Session] | None = None
    store: FakeStore = field(default_factory=FakeStore)

    @property
    def publisher(self) -> RecordingPublisher:
        return self.store.publisher

    def uow(self, context: MessageContext) -> UnitOfWork:
        if self.session_factory is None:
            return FakeUnitOfWork(self.store, service=self.name, context=context)
        relay = OutboxRelay(self.session_factory, self.store.publisher)
        return SqlAlchemyUnitOfWork(
            self.session_factory, service=self.name, context=context, relay=relay
        )


class InProcessBus:
    """Routes every published event to each subscribed service until the flow settles."""

    def __init__(self, *services: InProcessService) -> None:
        self.services = {s.name: s for s in services}
        self.log: list[Envelope] = []
        self.deliveries: list[tuple[str, str]] = []

    def send(self, command: Command, *, correlation_id: str | None = None) -> Any:
        service = self.services[command.task_name.split(".", 1)[0]]
        message_id = str(uuid.uuid4())
        context = MessageContext.new(correlation_id or message_id, causation_id=message_id)
        result = handle_command(
            command.task_name,
            command.model_dump(mode="json"),
            message_id,
            context,
            service.registry,
            service.uow,
        )
        self.run()
        return result

    def publish(self, event: Event, *, producer: str, correlation_id: str = "test") -> Envelope:
        envelope = wrap(event, service=producer, context=MessageContext.new(correlation_id))
        self.deliver(envelope)
        self.run()
        return envelope

    def deliver(self, envelope: Envelope) -> None:
        self.log.append(envelope)
        for service in self.services.values():
            if envelope.type in service.registry.events:
                self.deliveries.append((service.name, envelope.type))
                handle_event(envelope, service.registry, service.uow)

    def run(self, limit: int = 10_000) -> None:
        pending: deque[Envelope] = deque()
        for _ in range(limit):
            for service in self.services.values():
                pending.extend(Envelope.model_validate(e) for e in service.publisher.published)
                service.publisher.published.clear()
            if not pending:
                return
            self.deliver(pending.popleft())
        raise RuntimeError("event flow did not settle (a cycle?)")

    def types(self) -> list[str]:
        return [e.type for e in self.log]


def sample_order_created(order_id: str = "ord_1", **changes: Any) -> OrderCreated:
    """An `order-created` event as the orders service publishes it; `changes` override fields."""
    fields: dict[str, Any] = {
        "order_id": order_id,
        "customer_email": "ada@example.com",
        "category": "cnc-machining",
        "region": "eu-west",
        "quantity": 1,
        "amount": 2500,
        "currency": "usd",
        "payment_method": "pm_card_visa",
    }
    return OrderCreated(**{**fields, **changes})
