"""Unit of work and inbox on real databases: SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kit_test_helpers import Widget, count, inbox_keys, kit_database, outbox, widgets
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded, RefundPayment
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import (
    HandlerRegistry,
    handle_command,
    handle_event,
    handler_name,
)
from switchboard_shared.outbox import OutboxRelay
from switchboard_shared.records import InboxRecord, OutboxMessage
from switchboard_shared.testing import RecordingPublisher
from switchboard_shared.uow import DuplicateMessage, SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration
SERVICE = "widgets"


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with kit_database(database_url) as factory:
        yield factory


def uow(factory: sessionmaker[Session], relay: OutboxRelay | None = None) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(
        factory, service=SERVICE, context=MessageContext.new("ord_1", "cmd-1"), relay=relay
    )


def succeeded(order_id: str = "ord_1") -> PaymentSucceeded:
    return PaymentSucceeded(
        payment_id=f"pay_{order_id}", order_id=order_id, amount=500, currency="usd"
    )


# --- unit of work ----------------------------------------------------------------------


def test_commit_persists_domain_rows_and_outbox_rows_together(db: sessionmaker[Session]) -> None:
    with uow(db) as work:
        work.session.add(Widget(id="w1", size=3))
        work.publish(succeeded(), subject="ord_1")
        work.commit()

    assert widgets(db) == {"w1": 3}
    [row] = outbox(db)
    assert row.event_type == "payment-succeeded"
    assert row.routing_key == "widgets.payment-succeeded"
    assert row.published_at is None and row.attempts == 0
    assert row.envelope["id"] == row.id
    assert row.envelope["correlationid"] == "ord_1"
    assert row.envelope["causationid"] == "cmd-1"
    assert row.envelope["subject"] == "ord_1"
    assert row.envelope["data"]["amount"] == 500


def test_leaving_without_commit_drops_domain_rows_and_outbox_rows(
    db: sessionmaker[Session],
) -> None:
    with uow(db) as work:
        work.session.add(Widget(id="w1"))
        work.publish(succeeded())
    assert count(db, Widget) == 0
    assert count(db, OutboxMessage) == 0


def test_an_exception_in_the_unit_of_work_drops_both(db: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), uow(db) as work:
        work.session.add(Widget(id="w1"))
        work.publish(succeeded())
        work.session.flush()
        raise RuntimeError("handler failed after flushing")
    assert count(db, Widget) == 0
    assert count(db, OutboxMessage) == 0


def test_explicit_rollback_forgets_staged_events(db: sessionmaker[Session]) -> None:
    relay = OutboxRelay(db, RecordingPublisher())
    with uow(db, relay) as work:
        work.session.add(Widget(id="w1"))
        work.publish(succeeded())
        work.rollback()
        work.session.add(Widget(id="w2"))
        work.commit()
    assert widgets(db) == {"w2": 0}
    assert count(db, OutboxMessage) == 0
    assert relay.publisher.published == []  # type: ignore[attr-defined]


def test_a_failed_commit_keeps_neither_the_state_change_nor_its_event(
    db: sessionmaker[Session],
) -> None:
    with uow(db) as work:
        work.session.add(Widget(id="w1", size=1))
        work.commit()
    with pytest.raises(IntegrityError), uow(db) as work:
        work.session.add(Widget(id="w1", size=2))  # primary key clash at commit
        work.publish(succeeded())
        work.commit()
    assert widgets(db) == {"w1": 1}
    assert count(db, OutboxMessage) == 0


def test_commit_hands_the_rows_to_the_relay_which_marks_them_published(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    with uow(db, OutboxRelay(db, publisher)) as work:
        work.session.add(Widget(id="w1"))
        work.publish(succeeded("a"))
        work.publish(succeeded("b"))
        work.commit()
    assert [e["data"]["order_id"] for e in publisher.published] == ["a", "b"]
    rows = outbox(db)
    assert len(rows) == 2
    assert all(row.published_at is not None and row.attempts == 1 for row in rows)


def test_nothing_reaches_the_publisher_before_commit(db: sessionmaker[Session]) -> None:
    publisher = RecordingPublisher()
    with uow(db, OutboxRelay(db, publisher)) as work:
        work.publish(succeeded())
        work.session.flush()
        assert publisher.published == []
        work.commit()
        assert len(publisher.published) == 1


# --- inbox -----------------------------------------------------------------------------


def widget_registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(PaymentSucceeded)
    def grow(event: PaymentSucceeded, work: SqlAlchemyUnitOfWork) -> None:
        widget = work.session.get(Widget, event.order_id)
        if widget is None:
            widget = Widget(id=event.order_id, size=0)
            work.session.add(widget)
        widget.size += event.amount
        work.publish(PaymentFailed(payment_id="p", order_id=event.order_id, reason="echo"))

    return registry


def factory_for(db: sessionmaker[Session], relay: OutboxRelay | None = None):  # type: ignore[no-untyped-def]
    return lambda context: SqlAlchemyUnitOfWork(db, service=SERVICE, context=context, relay=relay)


def test_the_same_message_and_handler_twice_is_a_no_op(db: sessionmaker[Session]) -> None:
    registry = widget_registry()
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("ord_1"))

    first = handle_event(envelope, registry, factory_for(db))
    second = handle_event(envelope, registry, factory_for(db))

    assert len(first) == 1 and second == []
    assert widgets(db) == {"ord_1": 500}
    assert count(db, OutboxMessage) == 1, "the duplicate published nothing"
    assert inbox_keys(db) == {(envelope.id, first[0])}


def test_an_idempotent_handler_runs_on_every_delivery_and_keeps_no_inbox_row(
    db: sessionmaker[Session],
) -> None:
    registry, runs = HandlerRegistry(), []

    @registry.on(PaymentSucceeded, idempotent=True)
    def set_size(event: PaymentSucceeded, work: SqlAlchemyUnitOfWork) -> None:
        runs.append(event.order_id)
        widget = work.session.get(Widget, event.order_id) or Widget(id=event.order_id, size=0)
        widget.size = event.amount  # setting, not adding: twice is once
        work.session.add(widget)

    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("ord_1"))
    handle_event(envelope, registry, factory_for(db))
    handle_event(envelope, registry, factory_for(db))

    assert runs == ["ord_1", "ord_1"]
    assert widgets(db) == {"ord_1": 500}
    assert inbox_keys(db) == set()


def test_inbox_is_per_handler(db: sessionmaker[Session]) -> None:
    with uow(db) as work:
        work.record_handled("m1", "svc.a")
        work.record_handled("m1", "svc.b")
        work.commit()
    assert inbox_keys(db) == {("m1", "svc.a"), ("m1", "svc.b")}


def test_a_concurrent_duplicate_claim_raises_duplicate_message(db: sessionmaker[Session]) -> None:
    first = uow(db)
    with first:
        first.record_handled("m1", "svc.handler")
        first.session.add(Widget(id="from-first"))
        first.commit()
    second = uow(db)  # a second delivery of the same message
    with second, pytest.raises(DuplicateMessage):
        second.record_handled("m1", "svc.handler")

    assert widgets(db) == {"from-first": 0}
    assert inbox_keys(db) == {("m1", "svc.handler")}


def commit_concurrent_delivery(db: sessionmaker[Session], message_id: str, handler: str) -> None:
    with db() as session, session.begin():
        session.add(InboxRecord(message_id=message_id, handler=handler))
        session.add(Widget(id="by-the-winner", size=1))


def blind_registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on(PaymentSucceeded)
    def add_widget(event: PaymentSucceeded, work: SqlAlchemyUnitOfWork) -> None:
        work.session.add(Widget(id=f"loser-{event.order_id}", size=event.amount))
        work.publish(PaymentFailed(payment_id="p", order_id=event.order_id, reason="x"))

    return registry


def test_handle_event_treats_a_concurrent_duplicate_as_a_skip(db: sessionmaker[Session]) -> None:
    registry = blind_registry()
    [fn] = registry.events["payment-succeeded"]
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("ord_1"))
    commit_concurrent_delivery(db, envelope.id, handler_name(fn))

    ran = handle_event(
        envelope,
        registry,
        factory_for(db),
    )

    assert ran == []
    assert widgets(db) == {"by-the-winner": 1}
    assert count(db, OutboxMessage) == 0


def test_concurrent_duplicate_is_a_skip_even_when_the_handler_reads_first(
    db: sessionmaker[Session],
) -> None:
    registry = widget_registry()  # like every real service handler: reads before it writes
    [fn] = registry.events["payment-succeeded"]
    envelope = wrap(succeeded(), service="payments", context=MessageContext.new("ord_1"))
    commit_concurrent_delivery(db, envelope.id, handler_name(fn))

    ran = handle_event(
        envelope,
        registry,
        factory_for(db),
    )

    assert ran == []
    assert widgets(db) == {"by-the-winner": 1}


def test_a_duplicate_command_returns_the_stored_result(db: sessionmaker[Session]) -> None:
    registry = HandlerRegistry()
    calls: list[str] = []

    @registry.command(RefundPayment)
    def refund(command: RefundPayment, work: SqlAlchemyUnitOfWork) -> dict[str, str]:
        calls.append(command.order_id)
        work.session.add(Widget(id=command.order_id))
        return {"refund": f"re_{command.order_id}"}

    args = ("payments.refund", {"order_id": "o1"}, "task-1", MessageContext.new("o1"), registry)
    first = handle_command(*args, factory_for(db))
    second = handle_command(*args, factory_for(db))

    assert first == second == {"refund": "re_o1"}
    assert calls == ["o1"]
    with db() as session:
        record = session.scalar(select(InboxRecord).where(InboxRecord.message_id == "task-1"))
        assert record is not None and record.result == {"refund": "re_o1"}


# --- claims for a batch (the batch consumer) -----------------------------------------------


def test_claim_new_returns_only_the_claims_never_made_before(db: sessionmaker[Session]) -> None:
    with uow(db) as work:
        work.record_handled("evt-1", "h.a")
        work.commit()

    with uow(db) as work:
        new = work.claim_new({("evt-1", "h.a"), ("evt-1", "h.b"), ("evt-2", "h.a")})
        work.commit()
    assert new == {("evt-1", "h.b"), ("evt-2", "h.a")}

    with uow(db) as work:
        assert work.claim_new({("evt-2", "h.a"), ("evt-1", "h.b")}) == set(), "all known now"
        assert work.claim_new(set()) == set()
    assert inbox_keys(db) == {("evt-1", "h.a"), ("evt-1", "h.b"), ("evt-2", "h.a")}


def test_claims_rolled_back_with_their_batch_can_be_made_again(db: sessionmaker[Session]) -> None:
    with uow(db) as work:
        assert work.claim_new({("evt-9", "h.a")}) == {("evt-9", "h.a")}
        work.rollback()

    with uow(db) as work:
        assert work.claim_new({("evt-9", "h.a")}) == {("evt-9", "h.a")}
        work.commit()
