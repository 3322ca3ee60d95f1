"""The reports read model on real databases: facts from events, idempotent under redelivery."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from switchboard_reports.handlers import registry
from switchboard_reports.models import Base
from switchboard_reports.projections import PROJECTED, increments
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import EVENTS, Envelope, Event
from switchboard_shared.contracts.email import EmailFailed
from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_command, handle_event
from switchboard_shared.testing import sample_order_created
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url)
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()


def uow_factory(db: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    return lambda context: SqlAlchemyUnitOfWork(db, service="reports", context=context)


def order_created(order_id: str = "ord_1", amount: int = 1000) -> OrderCreated:
    return sample_order_created(
        order_id,
        customer_email="a@example.com",
        category="flowers",
        region="eu",
        amount=amount,
        currency="eur",
    )


def envelope_of(event: Event, producer: str) -> Envelope:
    return wrap(event, service=producer, context=MessageContext.new("flow"))


def facts(db: sessionmaker[Session], day: Any = None) -> dict[tuple[str, str, str], int]:
    day = day or datetime.now(UTC).date()
    result = handle_command(
        "reports.facts",
        {"period_from": (day - timedelta(days=1)).isoformat(), "period_to": day.isoformat()},
        f"q-{uuid.uuid4()}",
        MessageContext.new("q"),
        registry,
        uow_factory(db),
    )
    return {(f["day"], f["metric"], f["key"]): f["value"] for f in result["facts"]}


def test_order_created_adds_an_order_and_its_value(db: sessionmaker[Session]) -> None:
    envelope = envelope_of(order_created(amount=2599), "orders")
    handle_event(envelope, registry, uow_factory(db))
    day = envelope.time.date().isoformat()
    assert facts(db) == {(day, "orders_placed", ""): 1, (day, "order_value", "eur"): 2599}


def test_a_duplicate_event_id_adds_nothing(db: sessionmaker[Session]) -> None:
    envelope = envelope_of(order_created(), "orders")
    assert len(handle_event(envelope, registry, uow_factory(db))) == 1
    assert handle_event(envelope, registry, uow_factory(db)) == []
    wire = Envelope.model_validate(envelope.model_dump(mode="json"))
    assert handle_event(wire, registry, uow_factory(db)) == []
    day = envelope.time.date().isoformat()
    assert facts(db)[(day, "orders_placed", "")] == 1
    assert facts(db)[(day, "order_value", "eur")] == 1000


def test_distinct_events_accumulate(db: sessionmaker[Session]) -> None:
    for n in range(3):
        handle_event(envelope_of(order_created(f"o{n}", 100), "orders"), registry, uow_factory(db))
    handle_event(
        envelope_of(
            PaymentSucceeded(payment_id="p", order_id="o1", amount=100, currency="eur"), "payments"
        ),
        registry,
        uow_factory(db),
    )
    day = datetime.now(UTC).date().isoformat()
    totals = facts(db)
    assert totals[(day, "orders_placed", "")] == 3
    assert totals[(day, "order_value", "eur")] == 300
    assert totals[(day, "revenue", "eur")] == 100
    assert totals[(day, "payments_succeeded", "")] == 1


def test_facts_are_filed_under_the_day_the_event_happened(db: sessionmaker[Session]) -> None:
    envelope = envelope_of(order_created(), "orders")
    yesterday = datetime.now(UTC) - timedelta(days=1)
    late = envelope.model_copy(update={"time": yesterday})
    handle_event(late, registry, uow_factory(db))
    assert facts(db)[(yesterday.date().isoformat(), "orders_placed", "")] == 1


def test_payment_failures_are_counted_by_decline_code_or_reason() -> None:
    assert increments(
        PaymentFailed(payment_id="p", order_id="o", reason="card_declined", decline_code="expired")
    ) == [("payments_failed", "expired", 1)]
    assert increments(PaymentFailed(payment_id="p", order_id="o", reason="r" * 100)) == [
        ("payments_failed", "r" * 64, 1)
    ]


def test_every_projected_event_adds_at_least_one_fact() -> None:
    for model in PROJECTED:
        fields = {
            name: {int: 1, bool: True}.get(field.annotation, "x")  # type: ignore[call-overload]
            for name, field in model.model_fields.items()
            if field.is_required()
        }
        assert increments(model.model_validate(fields)), model.type
        assert model.type in EVENTS
    assert increments(EmailFailed(message_id="m", to="t", reason="r")) == [("emails_failed", "", 1)]
