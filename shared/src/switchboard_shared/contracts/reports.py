"""Reports' published language."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal, get_args

from pydantic import Field, model_validator

from .base import Command, Event

PRODUCER = "reports"
ReportKind = Literal["sales", "orders", "payments", "operations"]
ReportFormat = Literal["pdf", "html", "csv", "json", "xlsx"]
REPORT_KINDS: tuple[str, ...] = get_args(ReportKind)
REPORT_FORMATS: tuple[str, ...] = get_args(ReportFormat)
MAX_BATCH_REPORTS = 20


class GenerateReport(Command):
    task_name: ClassVar[str] = "reports.generate"
    queue: ClassVar[str] = "reports.interactive"

    report_id: str = Field(min_length=1, max_length=64)
    kind: ReportKind
    format: ReportFormat
    period_from: date
    period_to: date

    @model_validator(mode="after")
    def _ordered(self) -> GenerateReport:
        if self.period_from > self.period_to:
            raise ValueError("period_from must not be after period_to")
        return self


class GenerateReportBatch(Command):
    """Several reports in parallel (a Celery chord); the task's result lists each outcome."""

    task_name: ClassVar[str] = "reports.generate_batch"
    queue: ClassVar[str] = "reports.batch"

    batch_id: str = Field(min_length=1, max_length=64)
    reports: list[GenerateReport] = Field(min_length=1, max_length=MAX_BATCH_REPORTS)


class ReportGenerated(Event):
    type: ClassVar[str] = "report-generated"
    producer: ClassVar[str] = PRODUCER

    report_id: str
    kind: str
    format: str
    size: int
    location: str
    content_type: str = "application/octet-stream"
    rows: int = 0
    period_from: date | None = None
    period_to: date | None = None
    # Set for object storage: a presigned URL, valid until `download_expires_at`.
    download_url: str | None = None
    download_expires_at: datetime | None = None


class ReportFailed(Event):
    type: ClassVar[str] = "report-failed"
    producer: ClassVar[str] = PRODUCER

    report_id: str
    reason: str
    kind: str | None = None
    format: str | None = None


class QueryFacts(Command):
    """Read the analytics facts of a period (the rows every report is built from)."""

    task_name: ClassVar[str] = "reports.facts"
    queue: ClassVar[str] = "reports.interactive"

    period_from: date
    period_to: date

    @model_validator(mode="after")
    def _ordered(self) -> QueryFacts:
        if self.period_from > self.period_to:
            raise ValueError("period_from must not be after period_to")
        return self
