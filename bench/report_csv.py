"""Report generation speed and memory: CSV through the report task code vs the bare csv module.

    python bench/report_csv.py [--quick] [--rows N ...]

Seeds one SQLite read model (the reports service's `event_facts` table) with the largest row
count, spread over days at 10,000 rows a day, so a period of N/10,000 days holds N rows. Each
run is its own subprocess, so its peak RSS (`resource.getrusage`, ru_maxrss) is its own:
  task  — `generate_report` (what `reports.generate` runs): counts, streams the rows from the
          database in batches, writes CSV with progress and the size cap, stores the file in
          local storage, records the report and its `report-generated` event;
  bare  — the same SELECT through the sqlite3 module and `csv.writer`, nothing else;
  pdf   — `generate_report` as PDF with its charts over 10,000 rows.
ratio = bare seconds / task seconds (1.0 = as fast as the bare csv module; target >= 0.5);
peak RSS target: under 150 MB for the task run, whatever the row count.
Figures are noisy on a shared machine. Human-readable lines, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROWS_PER_DAY = 10_000
START = date(2026, 1, 1)
TARGETS = {"ratio": 0.5, "peak_rss_mb": 150.0}
QUERY = (
    "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', occurred_at), type, subject, key, amount, latency_ms,"
    " detail FROM event_facts WHERE day >= ? AND day <= ? AND type IN (?, ?)"
    " ORDER BY day, occurred_at"
)
HEADER = ["time", "event", "order_id", "currency", "amount_minor", "latency_ms", "detail"]


def seed(path: Path, rows: int) -> None:
    from sqlalchemy import create_engine
    from switchboard_reports.models import Base

    engine = create_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO event_facts (event_id, occurred_at, day, type, subject, key, amount,"
            " latency_ms, detail, data) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, '{}')",
            (_row(n) for n in range(rows)),
        )


def _row(n: int) -> tuple[Any, ...]:
    day = START + timedelta(days=n // ROWS_PER_DAY)
    moment = datetime(day.year, day.month, day.day) + timedelta(seconds=(n % ROWS_PER_DAY) * 8)
    kind = "payment-refunded" if n % 10 == 9 else "payment-succeeded"
    currency = ("usd", "eur", "gbp")[n % 3]
    return (
        f"evt_{n:09d}",
        f"{moment:%Y-%m-%d %H:%M:%S}.000000",
        day.isoformat(),
        kind,
        f"ord_{n:09d}",
        currency,
        1000 + n % 9000,
        f"pay_{n:09d}",
    )


def period(rows: int) -> tuple[date, date]:
    return START, START + timedelta(days=max(1, rows // ROWS_PER_DAY) - 1)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_bare(db: Path, out: Path, start: date, end: date) -> int:
    import csv

    with sqlite3.connect(db) as conn, out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        cursor = conn.execute(
            QUERY, (start.isoformat(), end.isoformat(), "payment-succeeded", "payment-refunded")
        )
        written = 0
        while batch := cursor.fetchmany(5000):
            writer.writerows(batch)
            written += len(batch)
    return written


def prepare_task(db: Path, out: Path, start: date, end: date, fmt: str) -> Callable[[], int]:
    """Set up what a worker holds before its first report; returns the report run itself."""
    from switchboard_reports.adapters.storage import LocalStorage
    from switchboard_reports.config import ReportsSettings
    from switchboard_reports.generation import Reporter, generate_report
    from switchboard_reports.readmodel import FactReader
    from switchboard_shared.context import MessageContext
    from switchboard_shared.contracts.reports import GenerateReport
    from switchboard_shared.db import create_all, create_db_engine, create_session_factory
    from switchboard_shared.progress import reporting_to
    from switchboard_shared.uow import SqlAlchemyUnitOfWork

    url = f"sqlite:///{db}"
    engine = create_db_engine(url)
    create_all(engine)  # the kit's outbox and inbox
    settings = ReportsSettings(max_period_days=1000, max_file_bytes=2 * 1024**3)
    reporter = Reporter(
        settings, LocalStorage(out.parent), FactReader.for_url(url), out.parent / ".work"
    )
    command = GenerateReport(
        report_id=f"bench-{fmt}-{time.time_ns()}",
        kind="sales",
        format=fmt,  # type: ignore[arg-type]
        period_from=start,
        period_to=end,
    )
    sessions = create_session_factory(engine)

    def generate() -> int:
        updates: list[float] = []
        context = MessageContext.new("bench")
        uow = SqlAlchemyUnitOfWork(sessions, service="reports", context=context)
        with uow, reporting_to(lambda percent, step: updates.append(percent)):
            result = generate_report(command, uow, reporter)
        assert updates[-1] == 100.0
        return int(result["rows"])

    return generate


def child(args: argparse.Namespace) -> None:
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    out = Path(args.out)
    if args.child == "pdf":  # a worker has its modules loaded before its first report
        import switchboard_reports.rendering.pdf  # noqa: F401
    if args.child == "bare":
        began = time.perf_counter()
        rows = child_bare(Path(args.db), out, start, end)
    else:
        generate = prepare_task(Path(args.db), out, start, end, args.child)
        began = time.perf_counter()
        rows = generate()
    seconds = time.perf_counter() - began
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def run(mode: str, db: Path, out: Path, rows: int) -> dict[str, Any]:
    start, end = period(rows)
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--db",
        str(db),
        "--out",
        str(out),
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
    ]
    finished = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="10k and 50k rows instead of 100k and 1M"
    )
    parser.add_argument("--rows", type=int, nargs="*", help="row counts to compare")
    parser.add_argument("--child", choices=["bare", "csv", "pdf"], help=argparse.SUPPRESS)
    for name in ("--db", "--out", "--start", "--end"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    sizes = sorted(args.rows or ([10_000, 50_000] if args.quick else [100_000, 1_000_000]))
    summary: dict[str, Any] = {"bench": "report_csv", "quick": args.quick, "targets": TARGETS}
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as folder:
        db = Path(folder) / "reports.db"
        began = time.perf_counter()
        seed(db, max(max(sizes), ROWS_PER_DAY))
        print(f"seeded {max(sizes):,} rows in {time.perf_counter() - began:.1f}s", flush=True)
        for rows in sizes:
            bare = run("bare", db, Path(folder) / "bare.csv", rows)
            task = run("csv", db, Path(folder) / "store" / "x.csv", rows)
            ratio = bare["seconds"] / task["seconds"]
            print(
                f"{rows:>9,} rows  bare csv {bare['seconds']:.2f}s {bare['peak_rss_mb']:.0f} MB  "
                f"report task {task['seconds']:.2f}s {task['peak_rss_mb']:.0f} MB  ratio {ratio:.2f}",
                flush=True,
            )
            assert task["rows"] == bare["rows"] == rows, (task, bare)
            summary[f"csv_{rows}"] = {
                "bare_s": round(bare["seconds"], 3),
                "task_s": round(task["seconds"], 3),
                "ratio": round(ratio, 3),
                "task_peak_rss_mb": round(task["peak_rss_mb"], 1),
                "bare_peak_rss_mb": round(bare["peak_rss_mb"], 1),
            }
        pdf_sizes = [ROWS_PER_DAY] if args.quick else [ROWS_PER_DAY, 300_000]
        for rows in pdf_sizes:
            pdf = run("pdf", db, Path(folder) / "store" / f"r{rows}.pdf", rows)
            print(
                f"pdf with charts: {pdf['rows']:,} rows {pdf['seconds']:.2f}s "
                f"{pdf['peak_rss_mb']:.0f} MB",
                flush=True,
            )
            summary[f"pdf_{rows}"] = {
                "seconds": round(pdf["seconds"], 3),
                "peak_rss_mb": round(pdf["peak_rss_mb"], 1),
            }
    csv_runs = [value for key, value in summary.items() if key.startswith("csv_")]
    summary["min_ratio"] = min(run["ratio"] for run in csv_runs)
    summary["max_task_peak_rss_mb"] = max(run["task_peak_rss_mb"] for run in csv_runs)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
