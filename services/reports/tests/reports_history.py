"""A seeded event history for report tests: a week of orders, payments, email and webhooks."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from switchboard_reports.adapters.storage import LocalStorage, ReportStorage
from switchboard_reports.bootstrap import bootstrap
from switchboard_reports.config import ReportsSettings
from switchboard_reports.generation import Reporter
from switchboard_reports.models import Base
from switchboard_reports.readmodel import FactReader
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Envelope, Event
from switchboard_shared.contracts.email import EmailBounced, EmailSent
from switchboard_shared.contracts.integrations import WebhookDelivered, WebhookFailed
from switchboard_shared.contracts.orders import OrderCreated, OrderMatched, OrderUnmatched
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_event
from switchboard_shared.uow import SqlAlchemyUnitOfWork

START = date(2026, 11, 2)
DAYS = 7
ENDPOINT_ID = "ep_reportsseed01"
REASONS = ["card_declined", "insufficient_funds", "expired_card", "card_declined"]


def at(day: int, minute: int) -> datetime:
    return datetime(START.year, START.month, START.day, 9, tzinfo=UTC) + timedelta(
        days=day, minutes=minute
    )


def envelope(event: Event, producer: str, when: datetime, flow: str) -> Envelope:
    return wrap(event, service=producer, context=MessageContext.new(flow)).model_copy(
        update={"time": when}
    )


def _webhook_outcome(event_id: str, *, delivered: bool) -> Event:
    """The `order-matched` webhook to one endpoint: delivered first time, or failed for good."""
    delivery_id = "msg_" + hashlib.sha256(f"{event_id}:{ENDPOINT_ID}".encode()).hexdigest()[:24]
    if delivered:
        return WebhookDelivered(
            delivery_id=delivery_id,
            endpoint_id=ENDPOINT_ID,
            event_id=event_id,
            event_type="order-matched",
            url="https://hooks.example.com/in",
            status_code=200,
            attempts=1,
        )
    return WebhookFailed(
        delivery_id=delivery_id,
        endpoint_id=ENDPOINT_ID,
        event_id=event_id,
        event_type="order-matched",
        url="https://hooks.example.com/in",
        reason="HTTP 500",
        attempts=8,
    )


def _order_events(rng: random.Random, day: int, n: int) -> Iterator[Envelope]:
    order_id = f"ord_{day}_{n}"
    currency = "usd" if n % 3 else "eur"
    amount = rng.randrange(1000, 20000)
    created = at(day, n * 7)
    yield envelope(
        OrderCreated(
            order_id=order_id,
            customer_email=f"buyer{n}@example.com",
            category="cnc-machining",
            region="eu-west",
            quantity=1,
            amount=amount,
            currency=currency,
            payment_method="pm_card_visa",
        ),
        "orders",
        created,
        order_id,
    )
    if n % 5 == 4:
        failed = PaymentFailed(
            payment_id=f"pay_{order_id}",
            order_id=order_id,
            reason="card",
            decline_code=REASONS[n % 4],
        )
        yield envelope(failed, "payments", created + timedelta(seconds=2), order_id)
        return
    paid = PaymentSucceeded(
        payment_id=f"pay_{order_id}", order_id=order_id, amount=amount, currency=currency
    )
    yield envelope(paid, "payments", created + timedelta(seconds=2), order_id)
    if n % 7 == 6:
        unmatched = OrderUnmatched(order_id=order_id, reason="no supplier with capacity")
        yield envelope(unmatched, "orders", created + timedelta(seconds=3), order_id)
        refund = PaymentRefunded(
            payment_id=f"pay_{order_id}", order_id=order_id, amount=amount, currency=currency
        )
        yield envelope(refund, "payments", created + timedelta(minutes=5), order_id)
        return
    matched = OrderMatched(
        order_id=order_id,
        supplier_id=f"sup_{n % 3}",
        customer_email=f"buyer{n}@example.com",
        amount=amount,
        currency=currency,
    )
    matched_envelope = envelope(matched, "orders", created + timedelta(seconds=3 + n), order_id)
    yield matched_envelope
    sent = EmailSent(message_id=f"msg_{order_id}", to=f"buyer{n}@example.com", subject="Matched")
    yield envelope(sent, "email", created + timedelta(seconds=20), order_id)
    if n % 6 == 0:
        bounced = EmailBounced(
            message_id=f"msg_{order_id}", to="x@example.com", reason="mailbox full"
        )
        yield envelope(bounced, "email", created + timedelta(seconds=40), order_id)
    hook = _webhook_outcome(matched_envelope.id, delivered=n % 8 != 3)
    yield envelope(hook, "integrations", created + timedelta(seconds=30), order_id)


def history(seed: int = 7) -> list[Envelope]:
    """About 14 orders a day over a week, with failures, refunds, bounces and failed webhooks."""
    rng = random.Random(seed)
    events: list[Envelope] = []
    for day in range(DAYS):
        for n in range(8 + day * 2):
            events.extend(_order_events(rng, day, n))
    return events


@dataclass
class ReportsDb:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    storage_dir: Path
    settings: ReportsSettings = field(default_factory=ReportsSettings)

    def uow(self, context: MessageContext | None = None) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.sessions, service="reports", context=context or MessageContext.new("test")
        )

    def deliver(self, envelopes: list[Envelope]) -> list[list[str]]:
        registry = bootstrap(self.settings, self.reporter())
        return [handle_event(item, registry, self.uow) for item in envelopes]

    def reporter(self, storage: ReportStorage | None = None) -> Reporter:
        storage = storage or LocalStorage(self.storage_dir)
        reader = FactReader.for_url(self.url)
        return Reporter(self.settings, storage, reader, self.storage_dir / ".work")


def reports_db(url: str, storage_dir: Path, **settings: object) -> ReportsDb:
    engine = create_db_engine(url)
    create_all(engine, Base.metadata)
    return ReportsDb(
        url, engine, create_session_factory(engine), storage_dir, ReportsSettings(**settings)
    )


__all__ = ["DAYS", "START", "ReportsDb", "history", "reports_db"]
