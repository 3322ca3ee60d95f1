"""Reports' Celery tasks: thin wrappers that decode, run `generate_report`, and own failures."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery
from switchboard_shared import progress
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.reports import GenerateReport, GenerateReportBatch
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.progress import reporting_to
from switchboard_shared.records import utcnow
from switchboard_shared.tasks import DeadLettered, KitTask

from .batch import PART_TASK, SUMMARY_TASK, aggregate_sink, batch_canvas, daily_batch, summarise
from .commands import RunDailyReports
from .config import ReportsSettings
from .errors import ReportError
from .generation import Reporter, fail_report, generate_report


def parse(model: type[Any], payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise ValidationFailure(f"payload must be an object, got {type(payload).__name__}")
    return model.model_validate(payload)


log = logging.getLogger("switchboard.reports")


class ReportTask(KitTask):
    abstract = True
    reporter: Reporter

    def generate(self, command: GenerateReport) -> dict[str, Any]:
        context = MessageContext.new(command.report_id, causation_id=self.request.id)
        with self.runtime.uow(context) as uow:
            return generate_report(command, uow, self.reporter)

    def record_failure(self, command: GenerateReport, exc: BaseException) -> dict[str, Any]:
        """After the last retry: the report is failed and `report-failed` says why."""
        reason = str(exc)
        recorded = isinstance(exc, ReportError) or isinstance(exc.__cause__, ReportError)
        if not recorded:  # generate_report records a ReportError itself
            context = MessageContext.new(command.report_id, causation_id=self.request.id)
            with self.runtime.uow(context) as uow:
                fail_report(command, uow, reason)
        return {"report_id": command.report_id, "status": "failed", "error": reason}

    def part_failed(self, command: GenerateReport, exc: BaseException) -> dict[str, Any]:
        """A batch part's failure is its result: the chord must complete whatever happened."""
        try:
            progress.report(100, "failed")
            return self.record_failure(command, exc)
        except Exception:  # e.g. the database is what failed: still answer for this part
            log.exception("could not record the failure of report %s", command.report_id)
            return {"report_id": command.report_id, "status": "failed", "error": str(exc)}


def register_report_tasks(app: Celery, reporter: Reporter, settings: ReportsSettings) -> None:
    limits = {
        "bind": True,
        "base": ReportTask,
        "time_limit": settings.time_limit_seconds,
        "soft_time_limit": settings.soft_time_limit_seconds,
        "rate_limit": settings.rate_limit,
    }
    ReportTask.reporter = reporter

    @app.task(name=GenerateReport.task_name, queue=GenerateReport.queue, **limits)
    def generate(self: ReportTask, payload: Any) -> dict[str, Any]:
        command = parse(GenerateReport, payload)
        try:
            return self.generate(command)
        except ReportError:
            raise  # failed and announced: the kit dead-letters it with the reason
        except Exception as exc:
            try:
                self._apply_policy(exc)  # raises Retry, or DeadLettered after the last try
            except DeadLettered as dead:
                self.record_failure(command, dead)
                raise
            raise

    @app.task(name=PART_TASK, queue=GenerateReportBatch.queue, **limits)
    def batch_part(
        self: ReportTask, payload: Any, batch_task_id: str, parts: int
    ) -> dict[str, Any]:
        """One report of a batch: it never raises at the end, so the chord always completes."""
        command = parse(GenerateReport, payload)
        with reporting_to(aggregate_sink(self, batch_task_id, command.report_id, parts)):
            try:
                return self.generate(command)
            except ReportError as exc:
                return self.part_failed(command, exc)
            except Exception as exc:
                try:
                    self._apply_policy(exc)
                except DeadLettered as dead:
                    return self.part_failed(command, dead)
                raise

    @app.task(name=SUMMARY_TASK, queue=GenerateReportBatch.queue, bind=True, base=KitTask)
    def batch_summary(self: KitTask, results: list[dict[str, Any]], batch_id: str) -> Any:
        return summarise(results, batch_id)

    @app.task(
        name=GenerateReportBatch.task_name, queue=GenerateReportBatch.queue, bind=True, base=KitTask
    )
    def generate_batch(self: KitTask, payload: Any) -> Any:
        batch = parse(GenerateReportBatch, payload)
        return self.replace(batch_canvas(app, batch, self.request.id))

    @app.task(name=RunDailyReports.task_name, queue=RunDailyReports.queue, bind=True, base=KitTask)
    def daily(self: KitTask, payload: Any) -> Any:
        command = parse(RunDailyReports, payload)
        day = command.day or (utcnow().date() - timedelta(days=1))
        return self.replace(batch_canvas(app, daily_batch(settings, day), self.request.id))
