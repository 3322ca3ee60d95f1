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
from switchboard_integrations.adapters.dispatch import RecordingDispatcher
from switchboard_integrations.bootstrap import bootstrap as bootstrap_integrations
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.models import Base as IntegrationsBase
from switchboard_integrations.models import SupplierNotification
from switchboard_orders.handlers import registry as orders_registry
from switchboard_orders.models import Base as OrdersBase
from switchboard_orders.models import Order
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_payments.bootstrap import bootstrap as bootstrap_payments
from switchboard_payments.config import PaymentsSettings
from switchboard_payments.models import Base as PaymentsBase
from switchboard_payments.models import Payment
from switchboard_reports.adapters.storage import LocalStorage
from switchboard_reports.bootstrap import bootstrap as bootstrap_reports
from switchboard_reports.bootstrap import build_reporter
from switchboard_reports.config import ReportsSettings
from switchboard_reports.models import Base as ReportsBase
from switchboard_shared.contracts.orders import CreateOrder, CreateSupplier, Customer, OrderItem
from switchboard_shared.contracts.reports import QueryFacts
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.records import InboxRecord, OutboxMessage
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.testing import InProcessBus, InProcessService
from switchboard_shared.testsupport import provider_secrets


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


def database_url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / f'{name}.db'}"


def database(tmp_path: Path, name: str, metadata: MetaData) -> sessionmaker[Session]:
    engine = create_db_engine(database_url(tmp_path, name))
    create_all(engine, metadata)
    return create_session_factory(engine)


def reports_registry(tmp_path: Path) -> HandlerRegistry:
    """Reports renders invoices into a real folder and reads facts from its own database."""
    settings = ReportsSettings()
    storage = LocalStorage(tmp_path / "reports-files")
    reporter = build_reporter(
        settings, PlatformSettings(), database_url(tmp_path, "reports"), storage
    )
    return bootstrap_reports(settings, reporter)


@pytest.fixture
def provider() -> FakePaymentProvider:
    return FakePaymentProvider(decline={"pm_card_chargeCustomerFail": "card_declined"})


@pytest.fixture
def bus(tmp_path: Path, mailer: FakeMailer, provider: FakePaymentProvider) -> InProcessBus:
    secrets = provider_secrets()  # no default secret: the settings are given theirs
    payments_settings = PaymentsSettings(stripe_api_key=secrets["PAYMENTS_STRIPE_API_KEY"])
    payments_registry = bootstrap_payments(payments_settings, payments=provider)
    return InProcessBus(
        InProcessService(
            "orders", orders_registry, database(tmp_path, "orders", OrdersBase.metadata)
        ),
        InProcessService(
            "payments", payments_registry, database(tmp_path, "payments", PaymentsBase.metadata)
        ),
        InProcessService(
            "reports",
            reports_registry(tmp_path),
            database(tmp_path, "reports", ReportsBase.metadata),
        ),
        InProcessService("email", email_registry, database(tmp_path, "email", EmailBase.metadata)),
        InProcessService(
            "integrations",
            bootstrap_integrations(
                IntegrationsSettings(twilio_auth_token=secrets["TWILIO_AUTH_TOKEN"]),
                dispatcher=RecordingDispatcher(),
            ),
            database(tmp_path, "integrations", IntegrationsBase.metadata),
        ),
    )


def session(bus: InProcessBus, service: str) -> Session:
    factory = bus.services[service].session_factory
    assert factory is not None
    return factory()


def create_order(
    order_id: str = "ord_1", email: str = "buyer@example.com", card: str = "pm_card_visa"
) -> CreateOrder:
    return CreateOrder(
        order_id=order_id,
        payment_method=card,
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


def add_supplier(bus: InProcessBus, capacity: int = 10) -> str:
    bus.send(
        CreateSupplier(
            supplier_id="sup_1",
            name="Bloom & Co",
            categories=["flowers"],
            region="eu",
            capacity=capacity,
        )
    )
    return "sup_1"


def test_an_order_is_charged_matched_mailed_and_counted(
    bus: InProcessBus, mailer: FakeMailer, provider: FakePaymentProvider, tmp_path: Path
) -> None:
    supplier = add_supplier(bus)
    result = bus.send(create_order(), correlation_id="ord_1")

    assert result == {"order_id": "ord_1", "status": "pending_payment"}
    assert order_status(bus, "ord_1") == "matched"
    flow = [t for t in bus.types() if t in ("order-created", "payment-succeeded", "order-matched")]
    assert flow == ["order-created", "payment-succeeded", "order-matched"]
    assert [call for call in provider.calls if call[0] == "charge"] == [("charge", "order-ord_1")]
    with session(bus, "payments") as s:
        payment = s.scalar(select(Payment).where(Payment.order_id == "ord_1"))
        assert payment is not None and (payment.status, payment.amount) == ("succeeded", 1000)
    with session(bus, "orders") as s:
        order = s.get(Order, "ord_1")
        assert order is not None and order.supplier_id == supplier
    [confirmation] = mailer.sent
    assert confirmation["To"] == "buyer@example.com" and "ord_1" in confirmation["Subject"]
    with session(bus, "integrations") as s:
        assert s.get(SupplierNotification, "ord_1") is not None
    totals = facts(bus)
    assert totals[("orders_placed", "")] == 1
    assert totals[("revenue", "eur")] == 1000
    assert totals[("orders_matched", "")] == 1
    [invoice] = (tmp_path / "reports-files" / "invoices").rglob("*.pdf")
    assert invoice.read_bytes().startswith(b"%PDF")


def test_every_hop_carries_the_order_id_as_correlation_id(bus: InProcessBus) -> None:
    add_supplier(bus)
    bus.send(create_order(), correlation_id="ord_1")
    order_events = [e for e in bus.log if e.type != "supplier-registered"]
    assert len(order_events) >= 3
    assert {e.correlationid for e in order_events} == {"ord_1"}
    ids = {e.id for e in bus.log}
    assert all(e.causationid for e in order_events)
    assert all(e.causationid in ids for e in order_events if e.type != "order-created")


def test_a_declined_card_fails_the_order_and_tells_the_customer(
    bus: InProcessBus, mailer: FakeMailer
) -> None:
    add_supplier(bus)
    bus.send(create_order(card="pm_card_chargeCustomerFail"), correlation_id="ord_1")

    assert order_status(bus, "ord_1") == "payment_failed"
    [failed] = [e for e in bus.log if e.type == "payment-failed"]
    assert failed.data["decline_code"] == "card_declined"
    [notice] = mailer.sent
    assert "failed" in notice["Subject"].lower()
    assert facts(bus)[("payments_failed", "card_declined")] == 1


def test_without_a_fitting_supplier_the_order_is_unmatched(bus: InProcessBus) -> None:
    bus.send(create_order(), correlation_id="ord_1")
    assert order_status(bus, "ord_1") == "unmatched"
    assert "order-unmatched" in bus.types()


def test_a_redelivered_event_charges_and_counts_once(
    bus: InProcessBus, provider: FakePaymentProvider
) -> None:
    add_supplier(bus)
    bus.send(create_order(), correlation_id="ord_1")
    [created] = [e for e in bus.log if e.type == "order-created"]
    bus.deliver(created)
    bus.run()

    assert len([c for c in provider.calls if c[0] == "charge"]) == 1
    assert facts(bus)[("orders_placed", "")] == 1
    with session(bus, "payments") as s:
        assert s.scalars(select(func.count()).select_from(Payment)).one() == 1
    with session(bus, "orders") as s:  # the charge is idempotent by the payment: no inbox row
        assert s.scalars(select(func.count()).select_from(InboxRecord)).one() >= 1
        assert s.scalars(select(func.count()).select_from(OutboxMessage)).one() >= 1
