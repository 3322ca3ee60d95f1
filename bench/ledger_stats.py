"""Ledger stats at 100k and 1M tasks: the cost of a 90-day window must not grow with the ledger.

    python bench/ledger_stats.py [--quick] [--sizes 100000,1000000] [--repeat 5]

For each size, a PostgreSQL gateway database is filled with that many finished tasks spread
over 90 days (12 task names, 1 in 20 failed), the rollups are counted from it as the
migration does, and these are timed (best of --repeat):
- `metrics`, `failures` and `trends` (1-day buckets) over 2160 h, as `GET /api/v1/metrics`,
  `/failures` and `/trends?hours=2160&bucket=1d` compute them, and a Prometheus scrape;
- bare baseline: one task read by id (the cheapest ledger query);
- full scan: the read the stats made before rollups (every row of the window into Python).
Figures are ratios against the bare read of the same run; `growth` is a ratio at the
largest size over the same at the smallest (1.0 = flat), `growth_ms` the same in
milliseconds. Peak Python memory of one metrics
call and of the full scan (tracemalloc). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker
from switchboard_gateway.audit import models as audit_models  # noqa: F401  (registers tables)
from switchboard_gateway.ledger import rollups, stats
from switchboard_gateway.ledger.models import TaskRecord
from switchboard_gateway.ledger.queries import TaskLedger
from switchboard_gateway.models import Base
from switchboard_gateway.prometheus import PlatformCollector
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.testsupport import pg_database

WINDOW_HOURS = 2160.0
NAMES = [f"{service}.task_{i}" for service in ("orders", "payments", "email") for i in range(4)]

# Rows made by PostgreSQL itself (generate_series): a million in seconds, not minutes.
FILL = text(
    """
    INSERT INTO task_ledger (id, task_id, name, service, queue, state, state_at, progress,
        retries, runtime, worker, classification, error_type, error_message,
        created_at, started_at, completed_at)
    SELECT 't' || g, 't' || g,
        (CAST(:names AS text[]))[1 + g % :name_count],
        split_part((CAST(:names AS text[]))[1 + g % :name_count], '.', 1),
        'q', CASE WHEN g % 20 = 0 THEN 'dead_lettered' ELSE 'succeeded' END, 0, 100,
        g % 3, 0.002 * (1 + g % 500), 'w@bench',
        CASE WHEN g % 20 = 0 THEN 'provider-5xx' END,
        CASE WHEN g % 20 = 0 THEN 'HTTPError' END,
        CASE WHEN g % 20 = 0 THEN 'bench failure' END,
        now() - (g * CAST(:spread AS float8)) * interval '1 second',
        now() - (g * CAST(:spread AS float8)) * interval '1 second',
        now() - (g * CAST(:spread AS float8) - 1) * interval '1 second'
    FROM generate_series(CAST(:start AS bigint), CAST(:stop AS bigint)) AS g
    """
)


def fill(factory: sessionmaker[Session], size: int) -> float:
    """`size` finished tasks over 90 days, then their rollups; returns the rollup seconds."""
    spread = WINDOW_HOURS * 3600 * 0.98 / size
    with factory() as session, session.begin():
        for start in range(1, size + 1, 200_000):
            session.execute(
                FILL,
                {
                    "names": NAMES,
                    "name_count": len(NAMES),
                    "spread": spread,
                    "start": start,
                    "stop": min(size, start + 199_999),
                },
            )
        session.execute(text("ANALYZE task_ledger"))
    began = time.perf_counter()
    with factory() as session, session.begin():
        rollups.rebuild(session)
    with factory() as session, session.begin():
        session.execute(text("ANALYZE task_rollups"))
    return time.perf_counter() - began


def best(call: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times) * 1000


def peak_kib(call: Callable[[], Any]) -> float:
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return round(peak / 1024, 1)


class ScrapeView:
    """What the Prometheus collector needs of the platform view, for its ledger part only."""

    def __init__(self, ledger: TaskLedger) -> None:
        self.ledger = ledger


def full_scan(ledger: TaskLedger) -> int:
    """The pre-rollup read: every row of the window into Python."""
    columns = (TaskRecord.name, TaskRecord.service, TaskRecord.state, TaskRecord.runtime)
    query = select(*columns, TaskRecord.retries).where(
        TaskRecord.created_at >= stats.since_hours(WINDOW_HOURS)
    )
    with ledger.session_factory() as session:
        return len(list(session.execute(query)))


def measure(size: int, repeat: int) -> dict[str, Any]:
    with pg_database() as url:
        engine = create_db_engine(url)
        create_all(engine, Base.metadata)
        factory = create_session_factory(engine)
        rollup_seconds = fill(factory, size)
        ledger = TaskLedger(factory, ["orders", "payments", "email"])
        collector = PlatformCollector(ScrapeView(ledger))  # type: ignore[arg-type]
        metrics = stats.task_metrics(ledger, WINDOW_HOURS)
        assert sum(item["total"] for item in metrics) == size, "rollups lost tasks"
        calls: dict[str, Callable[[], Any]] = {
            "bare_read": lambda: ledger.lookup(f"t{size // 2}"),
            "metrics": lambda: stats.task_metrics(ledger, WINDOW_HOURS),
            "failures": lambda: stats.failures(ledger, WINDOW_HOURS),
            "trends": lambda: stats.trends(ledger, WINDOW_HOURS, timedelta(days=1)),
            "scrape": lambda: (collector._tasks(), collector._runtimes()),
            "full_scan": lambda: full_scan(ledger),
        }
        ms = {
            name: best(call, 1 if name == "full_scan" else repeat) for name, call in calls.items()
        }
        memory = {"metrics": peak_kib(calls["metrics"]), "full_scan": peak_kib(calls["full_scan"])}
        engine.dispose()
    bare = ms["bare_read"]
    return {
        "size": size,
        "ms": {name: round(value, 2) for name, value in ms.items()},
        "ratio_to_bare": {name: round(value / bare, 1) for name, value in ms.items()},
        "peak_kib": memory,
        "rollup_rows_per_s": round(size / rollup_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k and 100k tasks, 3 repeats")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    repeat = 3 if args.quick else args.repeat
    runs = []
    for size in sizes:
        run = measure(size, repeat)
        runs.append(run)
        print(f"{size:>9,} tasks: " + ", ".join(f"{k} {v} ms" for k, v in run["ms"].items()))
        print(f"{'':>16}ratio to bare read: {run['ratio_to_bare']}; peak KiB {run['peak_kib']}")
    small, large = runs[0], runs[-1]
    growth = {
        name: round(large["ratio_to_bare"][name] / small["ratio_to_bare"][name], 2)
        for name in ("metrics", "failures", "trends", "scrape", "full_scan")
    }
    growth_ms = {
        name: round(large["ms"][name] / small["ms"][name], 2)
        for name in ("metrics", "failures", "trends", "scrape", "full_scan")
    }
    print(f"growth from {small['size']:,} to {large['size']:,} tasks (1.0 = flat): {growth}")
    print(f"the same in milliseconds (the bare read itself varies between runs): {growth_ms}")
    result = {"bench": "ledger_stats", "runs": runs, "growth": growth, "growth_ms": growth_ms}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
