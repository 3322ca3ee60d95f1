"""The outbox relay on real databases: publish right after commit, and sweep what was left."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from kit_test_helpers import kit_database, outbox
from sqlalchemy.orm import Session, sessionmaker
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.payments import PaymentSucceeded
from switchboard_shared.outbox import OutboxRelay
from switchboard_shared.testing import RecordingPublisher
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration


class BatchRecordingPublisher(RecordingPublisher):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def publish(self, envelopes: Sequence[dict[str, Any]]) -> None:
        super().publish(envelopes)
        self.batches.append(len(envelopes))


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with kit_database(database_url) as factory:
        yield factory


def commit_event(db: sessionmaker[Session], relay: OutboxRelay, order_id: str) -> None:
    with SqlAlchemyUnitOfWork(
        db, service="payments", context=MessageContext.new(order_id), relay=relay
    ) as work:
        work.publish(
            PaymentSucceeded(
                payment_id=f"pay_{order_id}", order_id=order_id, amount=1, currency="usd"
            )
        )
        work.commit()


def order_ids(publisher: RecordingPublisher) -> list[str]:
    return [e["data"]["order_id"] for e in publisher.published]


def test_publish_committed_marks_rows_published(db: sessionmaker[Session]) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, publisher)
    commit_event(db, relay, "o1")

    [row] = outbox(db)
    assert [e["id"] for e in publisher.published] == [row.id]
    assert row.published_at is not None
    assert row.attempts == 1
    assert relay.pending_count() == 0
    assert relay.sweep() == 0, "nothing left for the sweep"
    assert len(publisher.published) == 1


def test_broker_down_leaves_rows_pending_and_a_later_sweep_publishes_them_once_oldest_first(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    publisher.fail = True
    relay = OutboxRelay(db, publisher, pause_after_failure=0)
    for order_id in ["o1", "o2", "o3"]:
        commit_event(db, relay, order_id)  # the commit itself succeeds

    assert relay.pending_count() == 3
    assert publisher.published == []
    assert all(row.published_at is None for row in outbox(db))

    with pytest.raises(ConnectionError):
        relay.sweep()  # still down: the sweep fails and keeps everything pending
    assert relay.pending_count() == 3

    publisher.fail = False
    assert relay.sweep() == 3
    assert order_ids(publisher) == ["o1", "o2", "o3"]
    assert relay.pending_count() == 0
    assert all(row.published_at is not None and row.attempts == 1 for row in outbox(db))

    assert relay.sweep() == 0
    assert order_ids(publisher) == ["o1", "o2", "o3"], "each event published once"


def test_after_a_failure_the_relay_pauses_instead_of_stalling_every_commit(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    publisher.fail = True
    relay = OutboxRelay(db, publisher, pause_after_failure=60)
    commit_event(db, relay, "o1")
    publisher.fail = False
    commit_event(db, relay, "o2")  # within the pause: left for the sweep, not tried now

    assert publisher.published == []
    assert relay.pending_count() == 2
    assert relay.sweep() == 2
    assert order_ids(publisher) == ["o1", "o2"]


def test_sweep_publishes_in_batches_oldest_first(db: sessionmaker[Session]) -> None:
    down = RecordingPublisher()
    down.fail = True
    writer = OutboxRelay(db, down, pause_after_failure=0)
    expected = [f"o{i}" for i in range(7)]
    for order_id in expected:
        commit_event(db, writer, order_id)

    publisher = BatchRecordingPublisher()
    relay = OutboxRelay(db, publisher)
    assert relay.sweep(batch=3) == 7
    assert publisher.batches == [3, 3, 1]
    assert order_ids(publisher) == expected
    assert relay.pending_count() == 0


def test_sweep_of_an_exact_multiple_of_the_batch_stops_cleanly(db: sessionmaker[Session]) -> None:
    down = RecordingPublisher()
    down.fail = True
    writer = OutboxRelay(db, down, pause_after_failure=0)
    for order_id in ["a", "b", "c", "d"]:
        commit_event(db, writer, order_id)
    publisher = BatchRecordingPublisher()
    assert OutboxRelay(db, publisher).sweep(batch=2) == 4
    assert publisher.batches == [2, 2]


def test_events_committed_while_down_then_up_are_all_published_once(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, publisher, pause_after_failure=0)
    commit_event(db, relay, "before")
    publisher.fail = True
    commit_event(db, relay, "during")
    publisher.fail = False
    commit_event(db, relay, "after")
    relay.sweep()
    assert sorted(order_ids(publisher)) == ["after", "before", "during"]
    assert order_ids(publisher)[-1] == "during", "the sweep caught up with the missed one"


def test_deferred_marks_land_shortly_after_the_publishes(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, publisher, mark_delay=0.2)
    for order_id in ["o1", "o2", "o3"]:
        commit_event(db, relay, order_id)

    assert order_ids(publisher) == ["o1", "o2", "o3"], "published right after each commit"
    deadline = time.monotonic() + 5
    while relay.pending_count() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert relay.pending_count() == 0
    assert all(row.published_at is not None and row.attempts == 1 for row in outbox(db))
    assert relay.sweep() == 0
    assert len(publisher.published) == 3, "nothing published twice"


def test_a_deferred_mark_that_never_lands_only_costs_a_second_publish(
    db: sessionmaker[Session],
) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(db, publisher, mark_delay=3600)  # the process "dies" before marking
    commit_event(db, relay, "o1")

    assert relay.pending_count() == 1
    assert relay.sweep() == 1
    assert order_ids(publisher) == ["o1", "o1"], "the sweep publishes it again; inboxes dedupe"
    assert relay.pending_count() == 0


def test_flushing_deferred_marks_marks_at_once(db: sessionmaker[Session]) -> None:
    relay = OutboxRelay(db, RecordingPublisher(), mark_delay=3600)
    commit_event(db, relay, "o1")
    assert relay.marks is not None

    relay.marks.flush()  # what worker shutdown does

    assert relay.pending_count() == 0
