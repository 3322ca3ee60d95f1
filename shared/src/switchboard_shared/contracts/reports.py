"""Reports' published language."""

from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import Command, Event

PRODUCER = "reports"
ReportKind = Literal["sales", "orders", "payments", "operations"]
ReportFormat = Literal["pdf", "html", "csv", "json", "xlsx"]


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


class ReportGenerated(Event):
    type: ClassVar[str] = "report-generated"
    producer: ClassVar[str] = PRODUCER

    report_id: str
    kind: str
    format: str
    size: int
    location: str


class ReportFailed(Event):
    type: ClassVar[str] = "report-failed"
    producer: ClassVar[str] = PRODUCER

    report_id: str
    reason: str


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
