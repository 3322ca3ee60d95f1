"""The order-to-cash flow across the REAL service registries, on the in-process bus.

Each service keeps its own temporary SQLite database (kit tables + its own tables), so the
outbox, inbox and domain rules run as they do in production; only the broker is in-memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email.bootstrap import bootstrap as bootstrap_email
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry as email_registry
from switchboard_email.models import Base as EmailBase
from switchboard_email.models import SentEmail
from switchboard_integrations.handlers import registry as integrations_registry
from switchboard_integrations.models import Base as IntegrationsBase
from switchboard_integrations.models import SupplierNotification
from switchboard_orders.handlers import registry as orders_registry
from switchboard_orders.models import Base as OrdersBase
from switchboard_orders.models import Order
from switchboard_payments.handlers import registry as payments_registry
from switchboard_payments.models import Base as PaymentsBase
from switchboard_payments.models import Payment
from switchboard_reports.handlers import registry as reports_registry
from switchboard_reports.models import Base as ReportsBase
from switchboard_shared.contracts.orders import CreateOrder, Customer, OrderItem, OrderMatched
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded
from switchboard_shared.contracts.reports import QueryFacts
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.records import InboxRecord, OutboxMessage
from switchboard_shared.testing import InProcessBus, InProcessService


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


@pytest.fixture
def mailer() -> Iterator[FakeMailer]:
    """Email's registry is module-level: bootstrap it with a fake, then put back what was there."""
    saved = dict(email_registry.dependencies)
    fake = FakeMailer()
    bootstrap_email(email_registry, EmailSettings(), mailer=fake)
    try:
        yield fake
    finally:
        email_registry.dependencies.clear()
        email_registry.dependencies.update(saved)


def database(tmp_path: Path, name: str, metadata: MetaData) -> sessionmaker[Session]:
    engine = create_db_engine(f"sqlite:///{tmp_path / f'{name}.db'}")
    create_all(engine, metadata)
    return create_session_factory(engine)


@pytest.fixture
def bus(tmp_path: Path, mailer: FakeMailer) -> InProcessBus:
    return InProcessBus(
        InProcessService(
            "orders", orders_registry, database(tmp_path, "orders", OrdersBase.metadata)
        ),
        InProcessService(
            "payments", payments_registry, database(tmp_path, "payments", PaymentsBase.metadata)
        ),
        InProcessService(
            "reports", reports_registry, database(tmp_path, "reports", ReportsBase.metadata)
        ),
        InProcessService("email", email_registry, database(tmp_path, "email", EmailBase.metadata)),
        InProcessService(
            "integrations",
            integrations_registry,
            database(tmp_path, "integrations", IntegrationsBase.metadata),
        ),
    )


def session(bus: InProcessBus, service: str) -> Session:
    factory = bus.services[service].session_factory
    assert factory is not None
    return factory()


def create_order(order_id: str = "ord_1", email: str = "buyer@example.com") -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        customer=Customer(email=email),
        category="flowers",
        region="eu",
        items=[
            OrderItem(sku="rose", quantity=2, unit_amount=300),
            OrderItem(sku="vase", quantity=1, unit_amount=400),
        ],
        currency="eur",
    )


def order_status(bus: InProcessBus, order_id: str) -> str | None:
    with session(bus, "orders") as s:
        order = s.get(Order, order_id)
        return order.status if order else None


def facts(bus: InProcessBus) -> dict[tuple[str, str], int]:
    days = [envelope.time.date() for envelope in bus.log] or [date.today()]
    result = bus.send(QueryFacts(period_from=min(days), period_to=max(days)))
    totals: dict[tuple[str, str], int] = {}
    for fact in result["facts"]:
        key = (fact["metric"], fact["key"])
        totals[key] = totals.get(key, 0) + fact["value"]
    return totals


def test_create_order_opens_a_payment_and_reports_the_facts(bus: InProcessBus) -> None:
    result = bus.send(create_order(), correlation_id="ord_1")

    assert result == {"order_id": "ord_1", "status": "pending_payment"}
    assert bus.types() == ["order-created"]
    assert sorted(bus.deliveries) == [("payments", "order-created"), ("reports", "order-created")]
    with session(bus, "payments") as s:
        payment = s.scalar(select(Payment).where(Payment.order_id == "ord_1"))
        assert payment is not None
        assert (payment.status, payment.amount, payment.currency) == ("pending", 1000, "eur")
        assert payment.customer_email == "buyer@example.com"
    assert facts(bus) == {("orders_placed", ""): 1, ("order_value", "eur"): 1000}


def test_every_hop_carries_the_order_id_as_correlation_id(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    [created] = bus.log
    assert created.correlationid == "ord_1"
    assert created.subject == "ord_1"
    assert created.source == "/switchboard/orders"


def test_outbox_rows_are_published_and_inbox_rows_recorded(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    with session(bus, "orders") as s:
        [row] = s.scalars(select(OutboxMessage)).all()
        assert row.event_type == "order-created"
        assert row.routing_key == "orders.order-created"
        assert row.published_at is not None
    with session(bus, "payments") as s:
        [record] = s.scalars(select(InboxRecord)).all()
        assert record.message_id == row.id
        assert record.handler.endswith("open_payment")


def test_payment_succeeded_marks_the_order_paid(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    bus.publish(
        PaymentSucceeded(payment_id="pay_ord_1", order_id="ord_1", amount=1000, currency="eur"),
        producer="payments",
        correlation_id="ord_1",
    )
    assert order_status(bus, "ord_1") == "paid"
    with session(bus, "orders") as s:
        order = s.get(Order, "ord_1")
        assert order is not None and order.payment_id == "pay_ord_1"
    totals = facts(bus)
    assert totals[("revenue", "eur")] == 1000
    assert totals[("payments_succeeded", "")] == 1


def test_the_same_event_delivered_twice_has_one_effect(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    envelope = bus.publish(
        PaymentSucceeded(payment_id="pay_ord_1", order_id="ord_1", amount=1000, currency="eur"),
        producer="payments",
    )
    bus.deliver(envelope)
    bus.run()
    assert facts(bus)[("revenue", "eur")] == 1000


def test_payment_failed_for_an_unknown_order_is_ignored(
    bus: InProcessBus, mailer: FakeMailer
) -> None:
    bus.publish(
        PaymentFailed(payment_id="pay_x", order_id="ord_nobody", reason="card_declined"),
        producer="payments",
    )
    assert order_status(bus, "ord_nobody") is None
    with session(bus, "orders") as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0
    assert mailer.sent == [], "no customer e-mail on the event: nobody to tell"


def test_payment_failed_tells_the_customer_and_marks_the_order(
    bus: InProcessBus, mailer: FakeMailer
) -> None:
    bus.send(create_order(email="buyer@example.com"), correlation_id="ord_1")
    bus.publish(
        PaymentFailed(
            payment_id="pay_ord_1",
            order_id="ord_1",
            reason="card_declined",
            decline_code="insufficient_funds",
            customer_email="buyer@example.com",
        ),
        producer="payments",
        correlation_id="ord_1",
    )
    assert order_status(bus, "ord_1") == "payment_failed"
    [message] = mailer.sent
    assert message["To"] == "buyer@example.com"
    assert "ord_1" in message["Subject"]
    assert "card_declined" in message.get_content()
    assert "email-sent" in bus.types()
    email_sent = next(e for e in bus.log if e.type == "email-sent")
    assert email_sent.correlationid == "ord_1"
    with session(bus, "email") as s:
        [sent] = s.scalars(select(SentEmail)).all()
        assert (sent.reason, sent.correlation_id) == ("payment-failed", "ord_1")
    totals = facts(bus)
    assert totals[("payments_failed", "insufficient_funds")] == 1
    assert totals[("emails_sent", "")] == 1


def test_illegal_transition_paid_to_payment_failed_is_refused(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    bus.publish(
        PaymentSucceeded(payment_id="pay_ord_1", order_id="ord_1", amount=1000, currency="eur"),
        producer="payments",
    )
    bus.publish(
        PaymentFailed(payment_id="pay_ord_1", order_id="ord_1", reason="late decline"),
        producer="payments",
    )
    with session(bus, "orders") as s:
        order = s.get(Order, "ord_1")
        assert order is not None
        assert order.status == "paid"
        assert order.failure_reason is None


def test_payment_failed_then_succeeded_ends_paid(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    bus.publish(PaymentFailed(payment_id="p", order_id="ord_1", reason="x"), producer="payments")
    bus.publish(
        PaymentSucceeded(payment_id="p", order_id="ord_1", amount=1000, currency="eur"),
        producer="payments",
    )
    assert order_status(bus, "ord_1") == "paid"


def test_order_matched_reaches_email_integrations_and_reports(
    bus: InProcessBus, mailer: FakeMailer
) -> None:
    bus.publish(
        OrderMatched(
            order_id="ord_1",
            supplier_id="sup_9",
            customer_email="buyer@example.com",
            amount=1000,
            currency="eur",
        ),
        producer="orders",
        correlation_id="ord_1",
    )
    assert sorted(bus.deliveries) == [
        ("email", "order-matched"),
        ("integrations", "order-matched"),
        ("reports", "email-sent"),
        ("reports", "order-matched"),
    ]
    [message] = mailer.sent
    assert message["Subject"] == "Order ord_1 confirmed"
    assert "10.00 EUR" in message.get_content()
    with session(bus, "integrations") as s:
        notification = s.get(SupplierNotification, "ord_1")
        assert notification is not None and notification.supplier_id == "sup_9"
    totals = facts(bus)
    assert totals[("orders_matched", "")] == 1
    assert totals[("emails_sent", "")] == 1


def test_create_order_twice_with_the_same_id_creates_one_order(bus: InProcessBus) -> None:
    first = bus.send(create_order(), correlation_id="ord_1")
    second = bus.send(create_order(), correlation_id="ord_1")
    assert first == second == {"order_id": "ord_1", "status": "pending_payment"}
    assert bus.types() == ["order-created"], "the second command published nothing"
    assert facts(bus)[("orders_placed", "")] == 1


def test_email_handlers_need_a_mailer(bus: InProcessBus) -> None:
    email_registry.dependencies.pop("mailer")
    with pytest.raises(LookupError, match="mailer"):
        bus.publish(
            PaymentFailed(payment_id="p", order_id="o", reason="r", customer_email="a@example.com"),
            producer="payments",
        )
