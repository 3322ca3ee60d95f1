"""Orders on the in-process bus over a temporary SQLite database: suppliers, matching,
cancellation, refunds and beat's periodic work, with the kit's real inbox and outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from switchboard_orders.commands import RematchUnmatched, SendPaymentReminders
from switchboard_orders.handlers import registry
from switchboard_orders.models import Base, Order, Supplier
from switchboard_shared.contracts import Envelope
from switchboard_shared.contracts.orders import (
    CancelOrder,
    CreateOrder,
    CreateSupplier,
    Customer,
    ListSuppliers,
    OrderItem,
)
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.records import utcnow
from switchboard_shared.testing import InProcessBus, InProcessService


@pytest.fixture
def db(tmp_path: Path) -> sessionmaker[Session]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    create_all(engine, Base.metadata)
    return create_session_factory(engine)


@pytest.fixture
def bus(db: sessionmaker[Session]) -> InProcessBus:
    return InProcessBus(InProcessService("orders", registry, session_factory=db))


def add_supplier(bus: InProcessBus, supplier_id: str = "sup_1", **fields: Any) -> Any:
    values: dict[str, Any] = {
        "name": f"Supplier {supplier_id}",
        "categories": ["flowers"],
        "region": "eu-west",
        "capacity": 10,
    }
    values.update(fields)
    return bus.send(CreateSupplier(supplier_id=supplier_id, **values))


def place(bus: InProcessBus, order_id: str = "ord_1", quantity: int = 3, **fields: Any) -> None:
    values: dict[str, Any] = {"category": "flowers", "region": "eu-west", "currency": "eur"}
    values.update(fields)
    bus.send(
        CreateOrder(
            order_id=order_id,
            customer=Customer(email="buyer@example.com"),
            items=[OrderItem(sku="rose", quantity=quantity, unit_amount=250)],
            **values,
        ),
        correlation_id=order_id,
    )


def pay(bus: InProcessBus, order_id: str = "ord_1") -> None:
    bus.publish(
        PaymentSucceeded(
            payment_id=f"pay_{order_id}", order_id=order_id, amount=750, currency="eur"
        ),
        producer="payments",
        correlation_id=order_id,
    )


def order(db: sessionmaker[Session], order_id: str = "ord_1") -> Order:
    with db() as session:
        found = session.get(Order, order_id)
        assert found is not None
        return found


def reserved(db: sessionmaker[Session], supplier_id: str = "sup_1") -> int:
    with db() as session:
        found = session.get(Supplier, supplier_id)
        assert found is not None
        return found.reserved


def events(bus: InProcessBus, event_type: str) -> list[Envelope]:
    return [e for e in bus.log if e.type == event_type]


def backdate(db: sessionmaker[Session], order_id: str, hours: float) -> None:
    with db() as session, session.begin():
        found = session.get(Order, order_id)
        assert found is not None
        found.created_at = utcnow() - timedelta(hours=hours)


# --- suppliers ------------------------------------------------------------------------------


def test_create_supplier_publishes_supplier_registered(bus: InProcessBus) -> None:
    result = add_supplier(bus, categories=["flowers", "plants", "flowers"], rating=4.5)
    assert result["supplier_id"] == "sup_1"
    assert (result["capacity"], result["reserved"], result["free"]) == (10, 0, 10)
    [registered] = events(bus, "supplier-registered")
    assert registered.data == {
        "supplier_id": "sup_1",
        "name": "Supplier sup_1",
        "categories": ["flowers", "plants"],
        "region": "eu-west",
        "capacity": 10,
    }


def test_the_same_supplier_id_twice_returns_the_existing_supplier(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    first = add_supplier(bus, capacity=10)
    second = add_supplier(bus, capacity=99, name="Other name")
    assert second == first
    assert len(events(bus, "supplier-registered")) == 1
    with db() as session:
        assert session.query(Supplier).count() == 1


def test_list_suppliers_filters_by_category_and_paginates(bus: InProcessBus) -> None:
    for n in range(5):
        add_supplier(bus, f"sup_{n}", categories=["flowers"] if n % 2 == 0 else ["books"])
    add_supplier(bus, "sup_x", categories=["books", "flowers"])

    everything = bus.send(ListSuppliers())
    assert everything["total"] == 6
    flowers = bus.send(ListSuppliers(category="flowers"))
    assert flowers["total"] == 4
    assert [s["supplier_id"] for s in flowers["items"]] == ["sup_0", "sup_2", "sup_4", "sup_x"]
    page = bus.send(ListSuppliers(category="flowers", limit=2, offset=2))
    assert page["total"] == 4
    assert [s["supplier_id"] for s in page["items"]] == ["sup_4", "sup_x"]
    assert bus.send(ListSuppliers(category="toys")) == {"items": [], "total": 0}


# --- matching -------------------------------------------------------------------------------


def test_a_paid_order_is_matched_to_the_best_supplier(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus, "sup_far", region="us-east", rating=5.0)
    add_supplier(bus, "sup_home", region="eu-west", rating=3.0)
    place(bus)
    pay(bus)

    matched = order(db)
    assert (matched.status, matched.supplier_id, matched.payment_id) == (
        "matched",
        "sup_home",
        "pay_ord_1",
    )
    assert reserved(db, "sup_home") == 3
    assert reserved(db, "sup_far") == 0
    [event] = events(bus, "order-matched")
    assert event.data == {
        "order_id": "ord_1",
        "supplier_id": "sup_home",
        "customer_email": "buyer@example.com",
        "amount": 750,
        "currency": "eur",
    }
    assert event.correlationid == "ord_1"
    assert bus.types() == ["supplier-registered"] * 2 + [
        "order-created",
        "payment-succeeded",
        "order-matched",
    ]


def test_a_full_supplier_is_passed_over_for_one_with_room(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus, "sup_home", capacity=2)
    add_supplier(bus, "sup_near", region="eu-central", capacity=5)
    place(bus, quantity=3)
    pay(bus)
    assert order(db).supplier_id == "sup_near"
    assert reserved(db, "sup_near") == 3


def test_no_fitting_supplier_leaves_the_order_unmatched_with_the_reason(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus, capacity=2)
    place(bus, quantity=3)
    pay(bus)

    unmatched = order(db)
    assert unmatched.status == "unmatched"
    assert unmatched.payment_id == "pay_ord_1"
    [event] = events(bus, "order-unmatched")
    assert event.data["order_id"] == "ord_1"
    assert "free capacity for 3" in event.data["reason"]
    assert reserved(db) == 0


def test_an_order_of_a_category_nobody_serves_is_unmatched(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus, categories=["books"])
    place(bus)
    pay(bus)
    assert order(db).status == "unmatched"
    [event] = events(bus, "order-unmatched")
    assert event.data["reason"] == "no supplier serves category 'flowers'"


def test_a_duplicate_payment_succeeded_reserves_once(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus)
    envelope = bus.publish(
        PaymentSucceeded(payment_id="pay_ord_1", order_id="ord_1", amount=750, currency="eur"),
        producer="payments",
    )
    bus.deliver(envelope)
    bus.run()
    pay(bus)  # a second, distinct delivery of the same fact: refused by the state machine
    assert reserved(db) == 3
    assert len(events(bus, "order-matched")) == 1


def test_payment_failed_then_succeeded_is_matched(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus)
    bus.publish(
        PaymentFailed(payment_id="p", order_id="ord_1", reason="card_declined"),
        producer="payments",
    )
    assert (order(db).status, order(db).failure_reason) == ("payment_failed", "card_declined")
    pay(bus)
    assert (order(db).status, order(db).failure_reason) == ("matched", None)


def test_a_late_payment_failed_never_moves_a_matched_order_back(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus)
    pay(bus)
    bus.publish(PaymentFailed(payment_id="p", order_id="ord_1", reason="late"), producer="payments")
    assert order(db).status == "matched"
    assert reserved(db) == 3


# --- refunds and cancellation ---------------------------------------------------------------


def test_refund_of_a_matched_order_releases_its_capacity(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus)
    pay(bus)
    refunded = PaymentRefunded(payment_id="pay_ord_1", order_id="ord_1", amount=750, currency="eur")
    bus.publish(refunded, producer="payments")
    bus.publish(refunded, producer="payments")  # a second delivery: refunded → refunded refused
    assert order(db).status == "refunded"
    assert reserved(db) == 0


def test_refund_of_a_pending_order_is_refused(bus: InProcessBus, db: sessionmaker[Session]) -> None:
    place(bus)
    bus.publish(
        PaymentRefunded(payment_id="p", order_id="ord_1", amount=750, currency="eur"),
        producer="payments",
    )
    assert order(db).status == "pending_payment"


def test_cancel_a_matched_order_releases_capacity_and_says_it_was_paid(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus)
    pay(bus)
    assert reserved(db) == 3

    result = bus.send(CancelOrder(order_id="ord_1", reason="changed my mind"))

    assert result == {"order_id": "ord_1", "status": "cancelled", "was_paid": True}
    cancelled = order(db)
    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "changed my mind")
    assert reserved(db) == 0
    [event] = events(bus, "order-cancelled")
    assert event.data == {"order_id": "ord_1", "was_paid": True}


def test_then_the_refund_of_the_cancelled_order_releases_nothing_twice(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus)
    place(bus, "ord_1")
    place(bus, "ord_2")
    pay(bus, "ord_1")
    pay(bus, "ord_2")
    bus.send(CancelOrder(order_id="ord_1"))
    bus.publish(
        PaymentRefunded(payment_id="pay_ord_1", order_id="ord_1", amount=750, currency="eur"),
        producer="payments",
    )
    assert order(db, "ord_1").status == "refunded"
    assert reserved(db) == 3, "ord_2 still holds its reservation"


@pytest.mark.parametrize("setup", ["pending_payment", "payment_failed", "unmatched", "paid"])
def test_cancel_from_every_cancellable_state(
    bus: InProcessBus, db: sessionmaker[Session], setup: str
) -> None:
    place(bus)
    if setup == "payment_failed":
        bus.publish(
            PaymentFailed(payment_id="p", order_id="ord_1", reason="x"), producer="payments"
        )
    elif setup == "unmatched":
        pay(bus)
    elif setup == "paid":
        with db() as session, session.begin():
            found = session.get(Order, "ord_1")
            assert found is not None
            found.status, found.payment_id = "paid", "pay_ord_1"
    assert order(db).status == setup

    result = bus.send(CancelOrder(order_id="ord_1"))

    assert result["status"] == "cancelled"
    assert result["was_paid"] is (setup in {"unmatched", "paid"})
    [event] = events(bus, "order-cancelled")
    assert event.data["was_paid"] is result["was_paid"]


@pytest.mark.parametrize("final", ["cancelled", "refunded"])
def test_cancel_is_refused_loudly_once_cancelled_or_refunded(
    bus: InProcessBus, db: sessionmaker[Session], final: str
) -> None:
    add_supplier(bus)
    place(bus)
    pay(bus)
    bus.send(CancelOrder(order_id="ord_1"))
    if final == "refunded":
        bus.publish(
            PaymentRefunded(payment_id="pay_ord_1", order_id="ord_1", amount=750, currency="eur"),
            producer="payments",
        )
    before = len(bus.log)

    with pytest.raises(ValidationFailure, match=f"cannot be cancelled: it is {final}"):
        bus.send(CancelOrder(order_id="ord_1"))

    assert order(db).status == final
    assert len(bus.log) == before, "a refused command publishes nothing"
    assert reserved(db) == 0


def test_cancel_of_an_unknown_order_is_a_validation_failure(bus: InProcessBus) -> None:
    with pytest.raises(ValidationFailure, match="does not exist"):
        bus.send(CancelOrder(order_id="ord_nobody"))


# --- beat: rematch and reminders ------------------------------------------------------------


def test_rematch_picks_up_capacity_freed_by_a_cancellation(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    add_supplier(bus, capacity=5)
    place(bus, "ord_1", quantity=4)
    place(bus, "ord_2", quantity=3)
    pay(bus, "ord_1")
    pay(bus, "ord_2")
    assert order(db, "ord_2").status == "unmatched"
    assert bus.send(RematchUnmatched()) == {"checked": 1, "matched": 0}

    bus.send(CancelOrder(order_id="ord_1"))
    result = bus.send(RematchUnmatched())

    assert result == {"checked": 1, "matched": 1}
    rematched = order(db, "ord_2")
    assert (rematched.status, rematched.supplier_id, rematched.failure_reason) == (
        "matched",
        "sup_1",
        None,
    )
    assert reserved(db) == 3
    [event] = [e for e in events(bus, "order-matched") if e.data["order_id"] == "ord_2"]
    assert event.correlationid == "ord_2", "beat's work joins the order's own timeline"
    assert len(events(bus, "order-unmatched")) == 1, "retries do not repeat order-unmatched"


def test_rematch_picks_up_a_newly_registered_supplier(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    place(bus)
    pay(bus)
    assert order(db).status == "unmatched"
    add_supplier(bus, "sup_new")
    assert bus.send(RematchUnmatched()) == {"checked": 1, "matched": 1}
    assert order(db).supplier_id == "sup_new"
    assert bus.send(RematchUnmatched()) == {"checked": 0, "matched": 0}


def test_a_backlog_larger_than_the_batch_is_retried_in_turn(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    for order_id in ("ord_a", "ord_b", "ord_c"):
        place(bus, order_id)
        pay(bus, order_id)
    tried: list[str] = []
    for _ in range(3):
        before = {o: order(db, o).updated_at for o in ("ord_a", "ord_b", "ord_c")}
        assert bus.send(RematchUnmatched(limit=1)) == {"checked": 1, "matched": 0}
        tried += [o for o, at in before.items() if order(db, o).updated_at != at]
    assert sorted(tried) == ["ord_a", "ord_b", "ord_c"], "each retried once, none starved"


def test_payment_reminders_are_sent_once_per_overdue_order(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    place(bus, "ord_old")
    place(bus, "ord_new")
    place(bus, "ord_paid_old")
    backdate(db, "ord_old", hours=25)
    backdate(db, "ord_paid_old", hours=48)
    bus.publish(
        PaymentFailed(payment_id="p", order_id="ord_paid_old", reason="x"), producer="payments"
    )

    assert bus.send(SendPaymentReminders(older_than_hours=24)) == {"reminded": 1}
    assert bus.send(SendPaymentReminders(older_than_hours=24)) == {"reminded": 0}

    [reminder] = events(bus, "order-payment-reminder")
    assert reminder.data == {
        "order_id": "ord_old",
        "customer_email": "buyer@example.com",
        "amount": 750,
        "currency": "eur",
    }
    assert reminder.correlationid == "ord_old"
    assert order(db, "ord_old").reminded_at is not None
    assert order(db, "ord_new").reminded_at is None


def test_the_reminder_age_comes_from_the_command(
    bus: InProcessBus, db: sessionmaker[Session]
) -> None:
    place(bus)
    backdate(db, "ord_1", hours=2)
    assert bus.send(SendPaymentReminders(older_than_hours=3)) == {"reminded": 0}
    assert bus.send(SendPaymentReminders(older_than_hours=1)) == {"reminded": 1}
