"""The read model over a seeded history: duplicates add nothing, order does not matter, a
rebuild from the stored event rows gives the same numbers, and latency is measured."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from reports_history import ReportsDb, history, reports_db
from sqlalchemy import select
from switchboard_reports.facts import rebuild
from switchboard_reports.models import DailyFact, EventFact

pytestmark = pytest.mark.integration

FactTable = dict[tuple[str, str, str], int]


@pytest.fixture
def db(database_url: str, tmp_path: Path) -> Iterator[ReportsDb]:
    made = reports_db(database_url, tmp_path / "store")
    yield made
    made.engine.dispose()


def facts(db: ReportsDb) -> FactTable:
    with db.sessions() as session:
        rows = session.scalars(select(DailyFact)).all()
        return {(f.day.isoformat(), f.metric, f.key): f.value for f in rows if f.value}


def latencies(db: ReportsDb) -> dict[str, int | None]:
    with db.sessions() as session:
        query = select(EventFact.subject, EventFact.latency_ms).where(
            EventFact.type == "order-matched"
        )
        return dict(session.execute(query).tuples().all())


def test_duplicates_and_shuffled_delivery_give_the_same_numbers_as_in_order(
    database_url: str, tmp_path: Path
) -> None:
    events = history()[:60]
    in_order = reports_db(database_url, tmp_path / "a")
    in_order.deliver(events)
    expected = facts(in_order)
    expected_latency = latencies(in_order)
    in_order.engine.dispose()

    shuffled = random.Random(3).sample(events, len(events))
    replayed = reports_db(f"sqlite:///{tmp_path / 'b.db'}", tmp_path / "b")
    outcomes = replayed.deliver(shuffled + events[:20])  # every one of the first 20 twice
    assert all(ran == [] for ran in outcomes[len(events) :]), "a duplicate ran a handler"
    assert facts(replayed) == expected
    assert latencies(replayed) == expected_latency
    assert expected[("2026-11-02", "orders_placed", "")] > 0
    assert expected[("2026-11-02", "match_latency_count", "")] > 0
    replayed.engine.dispose()


def test_rebuild_from_the_stored_rows_matches_the_projection(db: ReportsDb) -> None:
    db.deliver(history()[:70])
    before, before_latency = facts(db), latencies(db)
    with db.uow() as uow:
        uow.session.execute(DailyFact.__table__.delete())  # type: ignore[attr-defined]
        uow.commit()
    assert facts(db) == {}
    with db.uow() as uow:
        assert rebuild(uow.session) == 70
        uow.commit()
    assert facts(db) == before
    assert latencies(db) == before_latency


def test_match_latency_is_the_time_from_created_to_matched(db: ReportsDb) -> None:
    events = [e for e in history()[:60] if e.correlationid == "ord_0_1"]
    created = next(e for e in events if e.type == "order-created")
    matched = next(e for e in events if e.type == "order-matched")
    db.deliver([matched, created])  # out of order: the latency is filled in when created lands
    expected = int((matched.time - created.time).total_seconds() * 1000)
    assert latencies(db) == {"ord_0_1": expected}
    day = matched.time.date().isoformat()
    table = facts(db)
    assert table[(day, "match_latency_ms", "")] == expected
    assert table[(day, "match_latency_bucket", "le_5000")] == 1
