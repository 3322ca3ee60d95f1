"""Batches: several reports in parallel as a Celery chord, with one aggregated progress.

The batch task replaces itself with `chord(group(parts), summary)`; Celery gives the summary
the batch task's own id, so whoever holds that id sees the parts' aggregated progress while
they run (each part writes it to the result backend) and the list of outcomes at the end.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import Celery, chord, group
from celery.canvas import Signature
from switchboard_shared.contracts.reports import GenerateReport, GenerateReportBatch
from switchboard_shared.progress import ProgressSink, celery_sink

from .config import ReportsSettings

PART_TASK = "reports.batch_part"
SUMMARY_TASK = "reports.batch_summary"
BATCH_QUEUE = GenerateReportBatch.queue
PROGRESS_TTL_SECONDS = 24 * 3600


def batch_canvas(app: Celery, batch: GenerateReportBatch, batch_task_id: str) -> Signature:
    parts = [
        app.signature(
            PART_TASK,
            args=[part.model_dump(mode="json"), batch_task_id, len(batch.reports)],
            queue=BATCH_QUEUE,
        )
        for part in batch.reports
    ]
    summary = app.signature(SUMMARY_TASK, args=[batch.batch_id], queue=BATCH_QUEUE)
    return chord(group(parts), summary)


def summarise(results: list[dict[str, Any]], batch_id: str) -> dict[str, Any]:
    generated = sum(1 for result in results if result.get("status") == "generated")
    return {
        "batch_id": batch_id,
        "generated": generated,
        "failed": len(results) - generated,
        "reports": results,
    }


def aggregate_sink(task: Any, batch_task_id: str, report_id: str, parts: int) -> ProgressSink:
    """The part's own progress, and the batch's: the mean over its parts, kept in Redis."""
    own = celery_sink(task)
    key = f"switchboard:reports:batch:{batch_task_id}"

    def sink(percent: float, step: str) -> None:
        own(percent, step)
        redis = task.runtime.redis
        redis.hset(key, report_id, percent)
        redis.expire(key, PROGRESS_TTL_SECONDS)
        values = [float(value) for value in redis.hvals(key)]
        done = sum(1 for value in values if value >= 100)
        meta = {
            "progress": round(sum(values) / parts, 1),
            "current_step": f"{done} of {parts} reports done",
        }
        task.backend.store_result(batch_task_id, meta, "PROGRESS")

    return sink


def daily_batch(settings: ReportsSettings, day: date) -> GenerateReportBatch:
    """Yesterday's reports; ids are fixed per day, so a second run finds them made."""
    fmt = settings.daily_report_format
    reports = [
        GenerateReport(
            report_id=f"daily-{day.isoformat()}-{kind}-{fmt}",
            kind=kind,  # type: ignore[arg-type]
            format=fmt,  # type: ignore[arg-type]
            period_from=day,
            period_to=day,
        )
        for kind in settings.daily_kinds
    ]
    return GenerateReportBatch(batch_id=f"daily-{day.isoformat()}", reports=reports)
