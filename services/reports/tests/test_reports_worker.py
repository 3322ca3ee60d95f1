"""A real reports worker on a real Redis broker: one report on `reports.interactive`, a batch
as a chord on `reports.batch` where one bad part fails alone, and the events they publish."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery
from reports_history import START, ReportsDb, history
from sqlalchemy import select
from switchboard_reports.commands import RunDailyReports
from switchboard_reports.config import ReportsSettings
from switchboard_reports.kinds import KINDS
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.reports import GenerateReport, GenerateReportBatch
from switchboard_shared.db import create_db_engine, create_session_factory
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import WorkerProcess, redis_database, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def worker() -> Iterator[tuple[Celery, ReportsDb, str]]:
    # A folder of its own: pytest prunes old basetemp folders while a long session runs.
    with (
        tempfile.TemporaryDirectory(prefix="reports-worker-") as folder,
        redis_database() as broker,
    ):
        data = Path(folder)
        url = f"sqlite:///{data / 'reports.db'}"
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "REPORTS_DATABASE_URL": url,
            "REPORTS_STORAGE_DIR": str(data / "store"),
            "REPORTS_MAX_PERIOD_DAYS": "31",
            "REPORTS_RATE_LIMIT": "600/m",
            "REPORTS_DAILY_REPORT_FORMAT": "csv",
        }
        process = WorkerProcess("switchboard_reports.app", env, data / "worker.log", concurrency=2)
        process.start(timeout=90)  # migrates the database before it is ready
        try:
            engine = create_db_engine(url)
            db = ReportsDb(
                url, engine, create_session_factory(engine), data / "store", ReportsSettings()
            )
            db.deliver(history()[:60])
            client = Celery("client", broker=broker, backend=broker, set_as_current=False)
            client.conf.update(task_serializer="json", accept_content=["json"])
            yield client, db, broker
            engine.dispose()
        finally:
            process.stop()


def report(report_id: str, kind: str, fmt: str, days: int = 3) -> GenerateReport:
    return GenerateReport(
        report_id=report_id,
        kind=kind,  # type: ignore[arg-type]
        format=fmt,  # type: ignore[arg-type]
        period_from=START,
        period_to=START + timedelta(days=days - 1),
    )


def published(db: ReportsDb, event_type: str) -> list[dict[str, Any]]:
    with db.sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.event_type == event_type))
        return [row.envelope for row in rows]


def test_a_report_is_generated_on_the_interactive_queue(
    worker: tuple[Celery, ReportsDb, str],
) -> None:
    client, db, _ = worker
    task_id = send_command(client, report("rep_one", "orders", "csv"), correlation_id="rep_one")
    result = client.AsyncResult(task_id).get(timeout=90)
    assert result["status"] == "generated" and result["rows"] > 10
    assert Path(result["location"].removeprefix("file://")).stat().st_size == result["size"]
    [event] = published(db, "report-generated")
    assert event["correlationid"] == "rep_one"
    assert event["data"]["size"] == result["size"] and event["data"]["format"] == "csv"


def test_a_batch_runs_its_reports_in_parallel_and_one_failure_fails_alone(
    worker: tuple[Celery, ReportsDb, str],
) -> None:
    client, db, broker = worker
    batch = GenerateReportBatch(
        batch_id="batch_1",
        reports=[
            report("b_sales", "sales", "json"),
            report("b_ops", "operations", "xlsx"),
            report("b_too_long", "payments", "csv", days=40),  # over REPORTS_MAX_PERIOD_DAYS
        ],
    )
    task_id = send_command(client, batch)
    outcome = client.AsyncResult(task_id).get(timeout=120)
    assert outcome["batch_id"] == "batch_1"
    assert (outcome["generated"], outcome["failed"]) == (2, 1)
    by_id = {part["report_id"]: part for part in outcome["reports"]}
    assert by_id["b_sales"]["status"] == by_id["b_ops"]["status"] == "generated"
    assert by_id["b_too_long"]["status"] == "failed"
    assert "over the maximum of 31 days" in by_id["b_too_long"]["error"]
    [failed] = published(db, "report-failed")
    assert failed["data"]["report_id"] == "b_too_long"
    progress = redis.Redis.from_url(broker).hgetall(f"switchboard:reports:batch:{task_id}")
    assert {key.decode(): float(value) for key, value in progress.items()} == {
        "b_sales": 100.0,
        "b_ops": 100.0,
        "b_too_long": 100.0,
    }
    wait_until(lambda: len(published(db, "report-generated")) >= 3, 30)


def test_the_daily_run_makes_each_kind_once(worker: tuple[Celery, ReportsDb, str]) -> None:
    client, _, _ = worker
    first = client.AsyncResult(send_command(client, RunDailyReports(day=START))).get(timeout=120)
    assert first["generated"] == 4 and first["failed"] == 0
    ids = sorted(part["report_id"] for part in first["reports"])
    assert ids == [f"daily-{START.isoformat()}-{kind}-csv" for kind in sorted(KINDS)]
    again = client.AsyncResult(send_command(client, RunDailyReports(day=START))).get(timeout=120)
    assert [p["location"] for p in again["reports"]] == [p["location"] for p in first["reports"]]
