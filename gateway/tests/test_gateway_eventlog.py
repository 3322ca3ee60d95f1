"""The gateway's subscriber on real databases: every event logged once, and the order view
left at the furthest status whatever order the events arrive in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_fakes import order_created
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_gateway.eventlog import registry
from switchboard_gateway.models import Base, EventLogEntry, OrderView
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded
from switchboard_shared.envelopes import Envelope, wrap
from switchboard_shared.messagebus import handle_event
from switchboard_shared.records import InboxRecord
from switchboard_shared.testsupport import database_sessions
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration
ORDER = "ord_eventlog"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    with database_sessions(database_url, Base.metadata) as factory:
        yield factory


def deliver(sessions: sessionmaker[Session], envelope: Envelope) -> None:
    def uow(context: MessageContext) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(sessions, service="gateway", context=context)

    handle_event(envelope, registry, uow)


def envelope_of(event: Event, source: str) -> Envelope:
    return wrap(event, service=source, context=MessageContext.new(ORDER))


def created() -> Envelope:
    return envelope_of(order_created(ORDER, amount=2500, currency="eur"), "orders")


def paid() -> Envelope:
    event = PaymentSucceeded(payment_id="pay_1", order_id=ORDER, amount=2500, currency="eur")
    return envelope_of(event, "payments")


def matched() -> Envelope:
    event = OrderMatched(
        order_id=ORDER,
        supplier_id="sup_1",
        customer_email="ada@example.com",
        amount=2500,
        currency="eur",
    )
    return envelope_of(event, "orders")


def view(sessions: sessionmaker[Session]) -> OrderView:
    with sessions() as session:
        found = session.get(OrderView, ORDER)
        assert found is not None
        return found


def logged(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(EventLogEntry)) or 0)


def test_events_in_order_end_matched_with_every_field(sessions: sessionmaker[Session]) -> None:
    for envelope in (created(), paid(), matched()):
        deliver(sessions, envelope)

    order = view(sessions)
    assert (order.status, order.amount, order.currency) == ("matched", 2500, "eur")
    assert (order.supplier_id, order.payment_id) == ("sup_1", "pay_1")
    assert logged(sessions) == 3


def test_events_out_of_order_never_move_the_view_backwards(
    sessions: sessionmaker[Session],
) -> None:
    for envelope in (matched(), paid(), created()):
        deliver(sessions, envelope)

    order = view(sessions)
    assert order.status == "matched"
    assert (order.amount, order.currency) == (2500, "eur")  # order-created's, though it came last
    assert (order.supplier_id, order.payment_id) == ("sup_1", "pay_1")


def test_a_failed_payment_records_its_reason(sessions: sessionmaker[Session]) -> None:
    deliver(sessions, created())
    failed = PaymentFailed(
        payment_id="pay_1", order_id=ORDER, reason="card declined", decline_code="generic_decline"
    )
    deliver(sessions, envelope_of(failed, "payments"))

    order = view(sessions)
    assert (order.status, order.failure_reason) == ("payment_failed", "generic_decline")


def test_an_event_delivered_again_after_its_inbox_row_was_pruned_is_logged_once(
    sessions: sessionmaker[Session],
) -> None:
    envelope = created()
    deliver(sessions, envelope)
    with sessions() as session, session.begin():
        session.execute(delete(InboxRecord))

    deliver(sessions, envelope)

    assert logged(sessions) == 1
    assert view(sessions).status == "pending_payment"


def test_a_redelivered_event_changes_nothing_and_keeps_no_inbox_row(
    sessions: sessionmaker[Session],
) -> None:
    for envelope in (created(), paid()):
        deliver(sessions, envelope)
        deliver(sessions, envelope)

    assert logged(sessions) == 2
    assert view(sessions).status == "paid"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxRecord)) == 0
