"""The read model's write side: each event adds one row and its daily facts, exactly once.

Daily facts are bumped with one upsert (`INSERT … ON CONFLICT DO UPDATE SET value = value + n`),
atomic on PostgreSQL and SQLite alike. Match latency (order-created → order-matched) is filled
in by whichever of the two arrives second, so out-of-order delivery gives the numbers a
rebuild gives.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from switchboard_shared.contracts import Envelope, Event, event_spec

from .models import DailyFact, EventFact
from .projections import increments, row_of

# Upper bounds (ms) of the match-latency histogram kept per day: percentiles without the samples.
LATENCY_BUCKETS_MS = (250, 1000, 5000, 15_000, 60_000, 300_000, 900_000, 3_600_000, 86_400_000)
Bump = tuple[date, str, str, int]


def latency_bucket(milliseconds: int) -> str:
    for bound in LATENCY_BUCKETS_MS:
        if milliseconds <= bound:
            return f"le_{bound}"
    return "gt_86400000"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def add_facts(session: Session, bumps: Iterable[Bump]) -> None:
    rows = [{"day": d, "metric": m, "key": k[:64], "value": v} for d, m, k, v in bumps]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(DailyFact)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "metric", "key"],
        set_={"value": DailyFact.value + statement.excluded.value},
    )
    session.execute(statement, rows)


def record_event(session: Session, event: Event, envelope: Envelope) -> None:
    """Project one event; an event id seen before adds nothing (belt and braces with the inbox)."""
    if session.get(EventFact, envelope.id) is not None:
        return
    occurred_at = as_utc(envelope.time)
    day, row = occurred_at.date(), row_of(event)
    fact = EventFact(
        event_id=envelope.id,
        occurred_at=occurred_at,
        day=day,
        type=envelope.type,
        subject=row.subject[:64],
        key=row.key[:64],
        amount=row.amount,
        detail=row.detail[:200],
        data=envelope.data,
    )
    session.add(fact)
    add_facts(session, [(day, metric, key, amount) for metric, key, amount in increments(event)])
    if fact.type in ("order-created", "order-matched"):
        session.flush()
        _link_latency(session, fact)


def _first_created(session: Session, order_id: str) -> EventFact | None:
    query = (
        select(EventFact)
        .where(EventFact.type == "order-created", EventFact.subject == order_id)
        .order_by(EventFact.occurred_at, EventFact.event_id)
        .limit(1)
    )
    return session.scalars(query).first()


def _link_latency(session: Session, fact: EventFact) -> None:
    if fact.type == "order-matched":
        created = _first_created(session, fact.subject)
        if created is not None:
            _set_latency(session, fact, created)
    elif _first_created(session, fact.subject) is fact:
        waiting = select(EventFact).where(
            EventFact.type == "order-matched",
            EventFact.subject == fact.subject,
            EventFact.latency_ms.is_(None),
        )
        for matched in session.scalars(waiting).all():
            _set_latency(session, matched, fact)


def _set_latency(session: Session, matched: EventFact, created: EventFact) -> None:
    elapsed = as_utc(matched.occurred_at) - as_utc(created.occurred_at)
    latency = matched.latency_ms = max(0, int(elapsed.total_seconds() * 1000))
    bucket = latency_bucket(latency)
    add_facts(
        session,
        [
            (matched.day, "match_latency_ms", "", latency),
            (matched.day, "match_latency_count", "", 1),
            (matched.day, "match_latency_bucket", bucket, 1),
        ],
    )


def rebuild(session: Session, batch: int = 5000) -> int:
    """Recompute every daily fact and latency from the stored event rows; returns rows replayed."""
    session.execute(delete(DailyFact))
    session.execute(update(EventFact).values(latency_ms=None))
    totals: dict[tuple[date, str, str], int] = defaultdict(int)
    replayed = 0
    query = select(EventFact.day, EventFact.type, EventFact.data).order_by(
        EventFact.occurred_at, EventFact.event_id
    )
    for day, event_type, data in session.execute(query.execution_options(yield_per=batch)):
        event = event_spec(event_type).model.model_validate(data)
        for metric, key, amount in increments(event):
            totals[(day, metric, key[:64])] += amount
        replayed += 1
    add_facts(session, [(d, m, k, v) for (d, m, k), v in totals.items()])
    matched = select(EventFact).where(EventFact.type == "order-matched")
    for fact in session.scalars(matched).all():
        created = _first_created(session, fact.subject)
        if created is not None:
            _set_latency(session, fact, created)
    return replayed
