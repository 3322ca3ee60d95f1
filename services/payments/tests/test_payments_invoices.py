"""Invoices: one per paid order, numbered per year without gaps or duplicates."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from payments_harness import SLOW, Harness, envelope, order_created, stripe_event
from sqlalchemy.orm import Session, sessionmaker
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_payments.adapters.stripe import Charge
from switchboard_payments.commands import ReconcilePayments
from switchboard_payments.models import Base
from switchboard_payments.outcomes import apply_intent, payment_for_order
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_all, create_db_engine, create_session_factory


def test_invoices_are_numbered_in_sequence_once_per_order(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    year = datetime.now(UTC).year
    for n in range(1, 4):
        harness.order(order_created(f"ord_{n}"))
    intent = harness.payment("ord_2").intent_id
    assert intent is not None
    harness.webhook(stripe_event("payment_intent.succeeded", intent, "ord_2"))  # again
    harness.bus.send(ReconcilePayments())  # and again

    assert [i.number for i in harness.invoices()] == [
        f"INV-{year}-000001",
        f"INV-{year}-000002",
        f"INV-{year}-000003",
    ]
    issued = harness.published("invoice-issued")
    assert [e.data["order_id"] for e in issued] == ["ord_1", "ord_2", "ord_3"]
    assert issued[0].data["invoice_number"] == f"INV-{year}-000001"


def test_no_invoice_before_the_payment_succeeds(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=SLOW))
    assert harness.invoices() == []
    intent = provider.charges_for("ord_1")[0].intent_id
    harness.webhook(stripe_event("payment_intent.succeeded", intent, "ord_1"))
    assert len(harness.invoices()) == 1


@pytest.fixture
def any_db(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = (
        create_db_engine(database_url, pool_size=10)
        if "postgresql" in database_url
        else (create_db_engine(database_url))
    )
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.mark.integration
def test_concurrent_payments_get_distinct_consecutive_numbers(
    any_db: sessionmaker[Session],
) -> None:
    """Eight workers issuing at once, on SQLite and PostgreSQL: 1..40, each once."""
    provider = FakePaymentProvider()
    harness = Harness.build(any_db, provider)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: harness.order(order_created(f"ord_{n}")), range(40)))

    numbers = sorted(i.sequence for i in harness.invoices())
    assert numbers == list(range(1, 41))
    assert len({i.order_id for i in harness.invoices()}) == 40


@pytest.mark.integration
def test_a_webhook_racing_the_charge_answer_waits_for_it_and_adds_nothing(
    any_db: sessionmaker[Session],
) -> None:
    """Stripe's webhook arrives while the charge's own answer is being committed: the
    webhook reads the payment under the same row lock, so it waits, finds it succeeded, and
    issues no second invoice (without the lock its insert collided and its run failed)."""
    provider = FakePaymentProvider(slow={SLOW})
    harness = Harness.build(any_db, provider)
    harness.order(order_created("ord_1", method=SLOW))
    intent = provider.charges_for("ord_1")[0].intent_id
    failures: list[BaseException] = []

    def webhook() -> None:
        try:
            harness.bus.deliver(envelope(stripe_event("payment_intent.succeeded", intent, "ord_1")))
        except BaseException as exc:
            failures.append(exc)

    answer = Charge(intent_id=intent, status="succeeded", amount=2500, currency="eur")
    with harness.service.uow(MessageContext.new("ord_1")) as charge:
        payment = payment_for_order(charge, "ord_1", lock=True)
        assert payment is not None
        apply_intent(payment, answer, charge)
        charge.session.flush()
        racing = threading.Thread(target=webhook)
        racing.start()
        racing.join(0.5)
        assert racing.is_alive(), "the webhook waits for the charge's transaction"
        charge.commit()
    racing.join(10)
    harness.bus.run()

    assert failures == []
    assert harness.payment().status == "succeeded"
    assert len(harness.invoices()) == 1
    assert harness.types() == ["payment-succeeded", "invoice-issued"]
