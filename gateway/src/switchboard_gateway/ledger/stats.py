"""Metrics, failures and trends over a window of the ledger (seed 000's analytics).

Finished tasks are read from the rollups (`ledger.rollups`), so a window of 90 days costs
what a window of one does; tasks still in flight are counted from the ledger itself, where
an index on (state, created_at) bounds the read to the unfinished ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from switchboard_gateway.ledger import rollups
from switchboard_gateway.ledger.fold import STATES, TERMINAL
from switchboard_gateway.ledger.models import TaskRecord, TaskRollup
from switchboard_gateway.ledger.queries import TaskLedger, aware
from switchboard_gateway.ledger.rollups import DAY, HOUR, MINUTE, MINUTE_RETENTION, Tally

FAILED = ("failed", "dead_lettered")
IN_FLIGHT = tuple(state for state in STATES if state not in TERMINAL)
LAST_FAILURES = 5


class WindowTooLong(ValueError):
    """Buckets shorter than an hour reach back only as far as the minute rollups."""


def success_rate(states: dict[str, int]) -> float | None:
    succeeded = states.get("succeeded", 0)
    finished = succeeded + sum(states.get(s, 0) for s in FAILED)
    return round(succeeded / finished, 4) if finished else None


def since_hours(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def finished_by(ledger: TaskLedger, hours: float, *group: str, **where: Any) -> dict[Any, Tally]:
    """Finished tasks of the last `hours`, tallied by the rollup columns `group`."""
    now = datetime.now(UTC)
    filters = [getattr(TaskRollup, column).in_(values) for column, values in where.items()]
    with ledger.session_factory() as session:
        rows = rollups.read(
            session, rollups.window_spans(now - timedelta(hours=hours), now), *filters
        )
    tallies: dict[Any, Tally] = defaultdict(Tally)
    for row in rows:
        tallies[tuple(getattr(row, column) for column in group)].add(row)
    return tallies


def _in_flight(session: Session, since: datetime) -> list[Any]:
    columns = (TaskRecord.service, TaskRecord.name, TaskRecord.state)
    query = (
        select(*columns, func.count(TaskRecord.id))
        .where(TaskRecord.state.in_(IN_FLIGHT), TaskRecord.created_at >= since)
        .group_by(*columns)
    )
    return list(session.execute(query).all())


def runtime_summary(tally: Tally) -> dict[str, float | None]:
    return {
        "p50": tally.quantile(50),
        "p95": tally.quantile(95),
        "p99": tally.quantile(99),
        "avg": tally.average(),
    }


def task_metrics(ledger: TaskLedger, hours: float) -> list[dict[str, Any]]:
    tallies = finished_by(ledger, hours, "name", "service")
    with ledger.session_factory() as session:
        for service, name, state, count in _in_flight(session, since_hours(hours)):
            tallies[(name, service)].by_state[state] += count
    return [
        {
            "name": name,
            "service": service,
            "total": tally.total,
            "by_state": {s: tally.by_state[s] for s in STATES if tally.by_state.get(s)},
            "success_rate": success_rate(tally.by_state),
            "runtime": runtime_summary(tally),
            "retries": tally.retries,
        }
        for (name, service), tally in sorted(tallies.items())
        if tally.total
    ]


def failures(ledger: TaskLedger, hours: float) -> dict[str, Any]:
    tallies = finished_by(ledger, hours, "classification", "name", "service", state=FAILED)
    groups: dict[tuple[str, str], int] = defaultdict(int)
    for (classification, name, _), tally in tallies.items():
        if tally.total:
            groups[(classification or "unknown", name)] += tally.total
    since = since_hours(hours)
    with ledger.session_factory() as session:
        items = [
            _failure_group(session, classification, name, count, since)
            for (classification, name), count in sorted(groups.items(), key=lambda g: -g[1])
        ]
    by_class: dict[str, int] = defaultdict(int)
    for (classification, _), count in groups.items():
        by_class[classification] += count
    return {
        "hours": hours,
        "total": sum(groups.values()),
        "by_classification": dict(by_class),
        "items": items,
    }


def _failure_group(
    session: Session, classification: str, name: str, count: int, since: datetime
) -> dict[str, Any]:
    """A group's newest failures, read through (classification, name, completed_at)."""
    query = (
        select(
            TaskRecord.id,
            TaskRecord.service,
            TaskRecord.error_type,
            TaskRecord.error_message,
            TaskRecord.completed_at,
        )
        .where(TaskRecord.classification == classification, TaskRecord.name == name)
        .where(TaskRecord.state.in_(FAILED), TaskRecord.completed_at >= since)
        .order_by(TaskRecord.completed_at.desc())
        .limit(LAST_FAILURES)
    )
    newest = session.execute(query).all()
    last = newest[0] if newest else None
    seen = aware(last.completed_at) if last else None
    return {
        "classification": classification,
        "name": name,
        "service": last.service if last else "",
        "count": count,
        "last_seen": (seen or datetime.now(UTC)).isoformat(),
        "last_error": {
            "type": last.error_type if last else None,
            "message": last.error_message if last else None,
        },
        "task_ids": [row.id for row in reversed(newest)],
    }


def trend_span(hours: float, bucket: timedelta) -> int:
    """The coarsest rollup a bucket is made of; minutes only as far back as they are kept."""
    for span in (DAY, HOUR):
        if not bucket % timedelta(seconds=span):
            return span
    if timedelta(hours=hours) > MINUTE_RETENTION - timedelta(minutes=1):
        raise WindowTooLong(
            f"buckets shorter than an hour reach back {MINUTE_RETENTION.total_seconds() / 3600:g} h"
        )
    return MINUTE


def trends(ledger: TaskLedger, hours: float, bucket: timedelta) -> list[dict[str, Any]]:
    """Buckets aligned to the rollups, the last one ending at or just after now."""
    span = trend_span(hours, bucket)
    count = math.ceil(timedelta(hours=hours) / bucket)
    end = rollups.floor_to(datetime.now(UTC), span) + timedelta(seconds=span)
    start = end - count * bucket
    tallies = [Tally() for _ in range(count)]
    with ledger.session_factory() as session:
        for row in rollups.read_buckets(session, span, start, end):
            index = int((aware(row.bucket) - start) / bucket)  # type: ignore[operator]
            if 0 <= index < count:
                tallies[index].add(row)
    return [_trend_bucket(start + index * bucket, tally) for index, tally in enumerate(tallies)]


def _trend_bucket(start: datetime, tally: Tally) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "total": tally.total,
        "succeeded": tally.by_state.get("succeeded", 0),
        "failed": sum(tally.by_state.get(s, 0) for s in FAILED),
        "retries": tally.retries,
        "success_rate": success_rate(tally.by_state),
        "runtime_p50": tally.quantile(50),
        "runtime_p95": tally.quantile(95),
    }
