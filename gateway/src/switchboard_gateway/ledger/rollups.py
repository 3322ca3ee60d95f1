"""Task rollups: finished tasks counted per minute, hour and day, so that stats read a bounded
number of rows whatever the size of the ledger.

A rollup row counts the tasks of one (span, bucket, service, name, state, classification,
runtime bucket) and sums their retries and runtimes. The ledger writer adds each row's
contribution when it changes (`apply_changes`: the new contribution minus the old, so a task
folded twice, or moved from failed to dead-lettered, is counted once, where it now is).
A window reads whole days in its middle, hours and minutes at its edges. Minute rollups
are kept for `MINUTE_RETENTION`; hour and day rollups as long as the ledger.

Runtimes fall into geometric buckets (×1.5 from 1 ms to about 3 h); a quantile is the mean
runtime of the bucket its rank falls in, exact when that bucket holds one value and within
the bucket's width otherwise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, func, select
from sqlalchemy.orm import Session
from switchboard_shared.db import per_dialect

from switchboard_gateway.ledger.fold import TERMINAL
from switchboard_gateway.ledger.models import TaskRecord, TaskRollup

MINUTE, HOUR, DAY = 60, 3600, 86400
SPANS = (MINUTE, HOUR, DAY)
MINUTE_RETENTION = timedelta(hours=48)
RUNTIME_BASE, RUNTIME_FACTOR, RUNTIME_BUCKETS = 0.001, 1.5, 40
NO_RUNTIME = -1
ROLLUP_TABLE: Table = TaskRollup.__table__  # type: ignore[assignment]
COUNTED = ("count", "retries", "runtime_sum")
ROW_COLUMNS = (
    "id",
    "service",
    "name",
    "state",
    "classification",
    "retries",
    "runtime",
    "created_at",
)

Key = tuple[int, datetime, str, str, str, str, int]  # span, bucket, service, name, state, class, rb


def runtime_bucket(runtime: float | None) -> int:
    if runtime is None:
        return NO_RUNTIME
    if runtime <= RUNTIME_BASE:
        return 0
    index = math.ceil(math.log(runtime / RUNTIME_BASE, RUNTIME_FACTOR))
    return min(index, RUNTIME_BUCKETS)


def floor_to(moment: datetime, span: int) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    seconds = int(aware.timestamp()) // span * span
    return datetime.fromtimestamp(seconds, UTC)


def ceil_to(moment: datetime, span: int) -> datetime:
    floor = floor_to(moment, span)
    return floor if floor == moment else floor + timedelta(seconds=span)


def contribution(row: Mapping[str, Any] | None) -> dict[Key, tuple[int, int, float]]:
    """What one ledger row adds to the rollups: nothing until it has finished."""
    if row is None or row["state"] not in TERMINAL:
        return {}
    runtime = row["runtime"]
    parts = (row["service"], row["name"], row["state"], row["classification"] or "")
    counted = (1, int(row["retries"] or 0), float(runtime or 0.0))
    bucket = runtime_bucket(runtime)
    return {(span, floor_to(row["created_at"], span), *parts, bucket): counted for span in SPANS}


def changes(
    pairs: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Rollup increments for ledger rows that went from `before` to `after`."""
    totals: dict[Key, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for before, after in pairs:
        for sign, part in ((-1, contribution(before)), (1, contribution(after))):
            for key, values in part.items():
                for index, value in enumerate(values):
                    totals[key][index] += sign * value
    oldest_minute = datetime.now(UTC) - MINUTE_RETENTION
    return [
        _row(key, values)
        for key, values in totals.items()
        if any(values) and not (key[0] == MINUTE and key[1] < oldest_minute)
    ]


def _row(key: Key, values: list[float]) -> dict[str, Any]:
    span, bucket, service, name, state, classification, runtime = key
    return {
        "span": span,
        "bucket": bucket,
        "service": service,
        "name": name,
        "state": state,
        "classification": classification,
        "runtime_bucket": runtime,
        "count": int(values[0]),
        "retries": int(values[1]),
        "runtime_sum": values[2],
    }


def _build_increment(dialect: Any) -> Any:
    statement = dialect.insert(ROLLUP_TABLE)
    table = ROLLUP_TABLE.c
    increments = {name: table[name] + statement.excluded[name] for name in COUNTED}
    keys = [column.name for column in ROLLUP_TABLE.primary_key.columns]
    return statement.on_conflict_do_update(index_elements=keys, set_=increments)


_INCREMENT = per_dialect(_build_increment)


def apply_changes(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        rows.sort(key=lambda row: tuple(row[c.name] for c in ROLLUP_TABLE.primary_key.columns))
        session.execute(_INCREMENT[session.get_bind().dialect.name], rows)


def prune_minutes(session: Session, now: datetime | None = None) -> int:
    oldest = (now or datetime.now(UTC)) - MINUTE_RETENTION
    query = delete(TaskRollup).where(TaskRollup.span == MINUTE, TaskRollup.bucket < oldest)
    return int(session.execute(query).rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class Tally:
    """Counts of one group (a task name, a service, a time bucket) merged from rollup rows."""

    by_state: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_class: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retries: int = 0
    runtimes: dict[int, list[float]] = field(default_factory=dict)  # bucket → [count, sum]

    def add(self, row: Any) -> None:
        # PostgreSQL sums BIGINTs as NUMERIC: Decimals, made plain numbers here.
        count, retries, runtime_sum = int(row.count), int(row.retries), float(row.runtime_sum)
        self.by_state[row.state] += count
        if row.classification:
            self.by_class[row.classification] += count
        self.retries += retries
        if row.runtime_bucket != NO_RUNTIME and count:
            slot = self.runtimes.setdefault(row.runtime_bucket, [0, 0.0])
            slot[0] += count
            slot[1] += runtime_sum

    @property
    def total(self) -> int:
        return sum(self.by_state.values())

    def quantile(self, q: float) -> float | None:
        counted = sum(int(count) for count, _ in self.runtimes.values())
        if not counted:
            return None
        rank, seen = max(1, math.ceil(q / 100 * counted)), 0
        for bucket in sorted(self.runtimes):
            count, total = self.runtimes[bucket]
            seen += int(count)
            if seen >= rank:
                return round(total / count, 4)
        return None  # unreachable: the last bucket holds the highest rank

    def average(self) -> float | None:
        counted = sum(count for count, _ in self.runtimes.values())
        return round(sum(t for _, t in self.runtimes.values()) / counted, 4) if counted else None


def window_spans(since: datetime, until: datetime) -> list[tuple[int, datetime, datetime]]:
    """[since, until) as whole days in the middle, hours around them, minutes at the edges.

    Where the leading edge is older than the minute rollups, its whole hour is counted."""
    return _split(since, until, (DAY, HOUR, MINUTE), until - MINUTE_RETENTION)


def _split(
    since: datetime, until: datetime, spans: tuple[int, ...], oldest_minute: datetime
) -> list[tuple[int, datetime, datetime]]:
    if since >= until:
        return []
    span, finer = spans[0], spans[1:]
    if span == MINUTE:
        if since < oldest_minute:
            return [(HOUR, floor_to(since, HOUR), floor_to(since, HOUR) + timedelta(hours=1))]
        return [(MINUTE, floor_to(since, MINUTE), until)]
    first, last = ceil_to(since, span), floor_to(until, span)
    if first >= last:
        return _split(since, until, finer, oldest_minute)
    return [
        *_split(since, first, finer, oldest_minute),
        (span, first, last),
        *_split(last, until, finer, oldest_minute),
    ]


def read(session: Session, spans: list[tuple[int, datetime, datetime]], *where: Any) -> list[Any]:
    """Rollup rows of the spans (bucket start within each), grouped on every key but time."""
    keys = (
        TaskRollup.service,
        TaskRollup.name,
        TaskRollup.state,
        TaskRollup.classification,
        TaskRollup.runtime_bucket,
    )
    rows: list[Any] = []
    for span, start, end in spans:
        query = (
            select(
                *keys,
                func.sum(TaskRollup.count).label("count"),
                func.sum(TaskRollup.retries).label("retries"),
                func.sum(TaskRollup.runtime_sum).label("runtime_sum"),
            )
            .where(TaskRollup.span == span, TaskRollup.bucket >= start, TaskRollup.bucket < end)
            .where(*where)
            .group_by(*keys)
        )
        rows += list(session.execute(query).all())
    return rows


def read_buckets(session: Session, span: int, since: datetime, until: datetime) -> list[Any]:
    """Rollup rows of one span between two times, keeping their bucket (for trends)."""
    query = select(
        TaskRollup.bucket,
        TaskRollup.state,
        TaskRollup.classification,
        TaskRollup.runtime_bucket,
        func.sum(TaskRollup.count).label("count"),
        func.sum(TaskRollup.retries).label("retries"),
        func.sum(TaskRollup.runtime_sum).label("runtime_sum"),
    ).where(TaskRollup.span == span, TaskRollup.bucket >= since, TaskRollup.bucket < until)
    group = (
        TaskRollup.bucket,
        TaskRollup.state,
        TaskRollup.classification,
        TaskRollup.runtime_bucket,
    )
    return list(session.execute(query.group_by(*group)).all())


def rebuild(session: Session, chunk: int = 5000) -> int:
    """Rollups from the finished rows of the ledger (for a ledger written before rollups, or
    loaded in bulk): they are cleared first, then counted again in chunks. Returns the rows."""
    session.execute(delete(TaskRollup))
    table = TaskRecord.__table__
    columns = [table.c[name] for name in ROW_COLUMNS]
    last, counted = "", 0
    while True:
        query = (
            select(*columns)
            .where(table.c.state.in_(TERMINAL), table.c.id > last)
            .order_by(table.c.id)
            .limit(chunk)
        )
        rows = [dict(row) for row in session.execute(query).mappings()]
        if not rows:
            return counted
        apply_changes(session, changes((None, row) for row in rows))
        last, counted = rows[-1]["id"], counted + len(rows)
