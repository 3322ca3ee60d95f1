"""The order state machine: every illegal transition is refused and never applied, whether
asked by the model, by an event (logged and ignored) or by a command (ValidationFailure)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlalchemy.orm import Session, sessionmaker
from switchboard_orders.handlers import registry
from switchboard_orders.models import TRANSITIONS, Base, IllegalTransition, Order
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.orders import CancelOrder, OrderStatus
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.testing import InProcessBus, InProcessService

STATES: tuple[str, ...] = get_args(OrderStatus)
ILLEGAL = [(a, b) for a in STATES for b in STATES if b not in TRANSITIONS[a]]
LEGAL = [(a, b) for a in STATES for b in sorted(TRANSITIONS[a])]
EVENTS: dict[str, Event] = {
    "paid": PaymentSucceeded(payment_id="pay_new", order_id="ord_1", amount=1, currency="eur"),
    "payment_failed": PaymentFailed(payment_id="pay_new", order_id="ord_1", reason="declined"),
    "refunded": PaymentRefunded(payment_id="pay_new", order_id="ord_1", amount=1, currency="eur"),
}


def an_order(status: str) -> Order:
    return Order(
        id="ord_1",
        status=status,
        customer_email="buyer@example.com",
        category="flowers",
        region="eu-west",
        quantity=1,
        amount=100,
        currency="eur",
        payment_method="pm_card_visa",
    )


def test_the_table_covers_every_contract_status() -> None:
    assert set(TRANSITIONS) == set(STATES)
    assert all(targets <= set(STATES) for targets in TRANSITIONS.values())


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_never_applied(current: str, target: Any) -> None:
    order = an_order(current)
    with pytest.raises(IllegalTransition, match=f"{current} → {target} is not allowed"):
        order.move_to(target)
    assert order.status == current


@pytest.mark.parametrize(("current", "target"), LEGAL)
def test_every_legal_transition_is_applied(current: str, target: Any) -> None:
    order = an_order(current)
    order.move_to(target)
    assert order.status == target


@pytest.fixture
def db(tmp_path: Path) -> sessionmaker[Session]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'orders.db'}")
    create_all(engine, Base.metadata)
    return create_session_factory(engine)


@pytest.fixture
def bus(db: sessionmaker[Session]) -> InProcessBus:
    return InProcessBus(InProcessService("orders", registry, session_factory=db))


def stored(db: sessionmaker[Session], status: str) -> None:
    with db() as session, session.begin():
        order = an_order(status)
        order.payment_id = "pay_old"
        session.add(order)


def status_of(db: sessionmaker[Session]) -> tuple[str, str | None]:
    with db() as session:
        order = session.get(Order, "ord_1")
        assert order is not None
        return order.status, order.payment_id


@pytest.mark.parametrize(
    ("current", "target"), [(a, b) for a, b in ILLEGAL if b in EVENTS], ids=str
)
def test_an_event_asking_an_illegal_transition_is_logged_and_ignored(
    bus: InProcessBus,
    db: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    current: str,
    target: str,
) -> None:
    stored(db, current)
    with caplog.at_level(logging.WARNING, logger="switchboard.orders"):
        bus.publish(EVENTS[target], producer="payments")
    assert status_of(db) == (current, "pay_old")
    assert "refused" in caplog.text
    assert bus.types() == [EVENTS[target].type], "nothing published"


@pytest.mark.parametrize("current", [a for a, b in ILLEGAL if b == "cancelled"])
def test_a_cancel_command_asking_an_illegal_transition_fails_validation(
    bus: InProcessBus, db: sessionmaker[Session], current: str
) -> None:
    stored(db, current)
    with pytest.raises(ValidationFailure, match=f"cannot be cancelled: it is {current}"):
        bus.send(CancelOrder(order_id="ord_1"))
    assert status_of(db) == (current, "pay_old")
    assert bus.types() == []
