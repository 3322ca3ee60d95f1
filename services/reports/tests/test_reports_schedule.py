"""Beat's entries for reports, and the daily batch they send."""

from __future__ import annotations

from datetime import date

from celery.schedules import crontab
from switchboard_reports.app import beat_schedule
from switchboard_reports.batch import daily_batch, summarise
from switchboard_reports.config import ReportsSettings


def test_the_daily_report_and_the_cleanup_run_at_their_configured_hours() -> None:
    schedule = beat_schedule(ReportsSettings(daily_report_hour=7, cleanup_hour=2))
    daily, cleanup = schedule["reports.daily"], schedule["reports.cleanup"]
    assert daily["schedule"] == crontab(hour=7, minute=0)
    assert cleanup["schedule"] == crontab(hour=2, minute=0)
    assert daily["options"]["queue"] == cleanup["options"]["queue"] == "reports.batch"


def test_the_daily_batch_has_one_report_per_configured_kind_with_fixed_ids() -> None:
    settings = ReportsSettings(daily_report_kinds="sales, orders", daily_report_format="xlsx")
    batch = daily_batch(settings, date(2026, 11, 25))
    assert [(r.report_id, r.kind, r.format) for r in batch.reports] == [
        ("daily-2026-11-25-sales-xlsx", "sales", "xlsx"),
        ("daily-2026-11-25-orders-xlsx", "orders", "xlsx"),
    ]
    assert all(r.period_from == r.period_to == date(2026, 11, 25) for r in batch.reports)


def test_a_batch_summary_counts_each_outcome() -> None:
    results = [{"report_id": "a", "status": "generated"}, {"report_id": "b", "status": "failed"}]
    assert summarise(results, "batch_1") == {
        "batch_id": "batch_1",
        "generated": 1,
        "failed": 1,
        "reports": results,
    }
