"""Metrics, failures and trends over a window of the ledger (seed 000's analytics)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard_gateway.ledger.fold import STATES
from switchboard_gateway.ledger.models import TaskRecord
from switchboard_gateway.ledger.queries import TaskLedger, aware

FAILED = ("failed", "dead_lettered")


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 4)


def success_rate(states: Counter[str]) -> float | None:
    finished = states["succeeded"] + sum(states[s] for s in FAILED)
    return round(states["succeeded"] / finished, 4) if finished else None


def runtime_summary(runtimes: Iterable[float]) -> dict[str, float | None]:
    ordered = sorted(runtimes)
    return {
        "p50": percentile(ordered, 50),
        "p95": percentile(ordered, 95),
        "p99": percentile(ordered, 99),
        "avg": round(sum(ordered) / len(ordered), 4) if ordered else None,
    }


def since_hours(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def task_metrics(ledger: TaskLedger, hours: float) -> list[dict[str, Any]]:
    columns = (TaskRecord.name, TaskRecord.service, TaskRecord.state)
    rows = ledger.window(since_hours(hours), *columns, TaskRecord.runtime, TaskRecord.retries)
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.name, row.service)].append(row)
    items = []
    for (name, service), members in sorted(groups.items()):
        states = Counter(m.state for m in members)
        items.append(
            {
                "name": name,
                "service": service,
                "total": len(members),
                "by_state": {s: states[s] for s in STATES if states[s]},
                "success_rate": success_rate(states),
                "runtime": runtime_summary(m.runtime for m in members if m.runtime is not None),
                "retries": sum(m.retries for m in members),
            }
        )
    return items


def failures(ledger: TaskLedger, hours: float) -> dict[str, Any]:
    columns = (TaskRecord.id, TaskRecord.name, TaskRecord.service, TaskRecord.state)
    extra = (TaskRecord.classification, TaskRecord.error_type, TaskRecord.error_message)
    rows = [
        r
        for r in ledger.window(since_hours(hours), *columns, *extra, TaskRecord.completed_at)
        if r.state in FAILED
    ]
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.classification or "unknown", row.name)].append(row)
    items = []
    for (classification, name), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        last = max(members, key=lambda m: aware(m.completed_at) or datetime.min.replace(tzinfo=UTC))
        items.append(
            {
                "classification": classification,
                "name": name,
                "service": last.service,
                "count": len(members),
                "last_seen": (aware(last.completed_at) or datetime.now(UTC)).isoformat(),
                "last_error": {"type": last.error_type, "message": last.error_message},
                "task_ids": [m.id for m in members[-5:]],
            }
        )
    by_class = Counter(r.classification or "unknown" for r in rows)
    return {"hours": hours, "total": len(rows), "by_classification": dict(by_class), "items": items}


def trends(ledger: TaskLedger, hours: float, bucket: timedelta) -> list[dict[str, Any]]:
    start = since_hours(hours)
    columns = (TaskRecord.created_at, TaskRecord.state, TaskRecord.runtime, TaskRecord.retries)
    buckets: dict[int, list[Any]] = defaultdict(list)
    for row in ledger.window(start, *columns):
        index = int(((aware(row.created_at) or start) - start) / bucket)
        buckets[index].append(row)
    items = []
    for index in range(math.ceil(timedelta(hours=hours) / bucket)):
        members = buckets.get(index, [])
        states = Counter(m.state for m in members)
        runtimes = runtime_summary(m.runtime for m in members if m.runtime is not None)
        items.append(
            {
                "start": (start + index * bucket).isoformat(),
                "total": len(members),
                "succeeded": states["succeeded"],
                "failed": sum(states[s] for s in FAILED),
                "retries": sum(m.retries for m in members),
                "success_rate": success_rate(states),
                "runtime_p50": runtimes["p50"],
                "runtime_p95": runtimes["p95"],
            }
        )
    return items
