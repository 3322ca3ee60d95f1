"""Making one report: claim it, render it to a temporary file, store it, announce it.

No transaction stays open while rendering: the claim commits first, and rows are read
through the reader's own connection.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard_shared import progress
from switchboard_shared.contracts.reports import GenerateReport, ReportFailed, ReportGenerated
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.storage import ReportStorage, Stored
from .config import ReportsSettings
from .errors import ReportError
from .kinds import FORMATS
from .models import Report
from .readmodel import FactReader
from .rendering.dispatch import render


@dataclass
class Reporter:
    """What generating needs besides the unit of work (wired in bootstrap)."""

    settings: ReportsSettings
    storage: ReportStorage
    reader: FactReader
    workdir: Path | None = None  # temporary files; on local storage, beside the reports

    def scratch(self, prefix: str) -> tempfile.TemporaryDirectory[str]:
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.workdir, prefix=prefix)


def result_of(report: Report, stored: Stored | None = None) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "status": report.status,
        "kind": report.kind,
        "format": report.format,
        "size": report.size,
        "rows": report.rows,
        "location": report.location,
        "download_url": stored.download_url if stored else None,
        "error": report.error,
    }


def _claim(command: GenerateReport, uow: UnitOfWork, reporter: Reporter) -> Report | None:
    """The report's record, marked running; None when it was already made (a redelivery)."""
    report = uow.session.get(Report, command.report_id)
    made = report is not None and report.status == "generated" and report.location
    if made and reporter.storage.exists(report.location):  # type: ignore[union-attr,arg-type]
        return None
    if report is None:
        report = Report(report_id=command.report_id)
        uow.session.add(report)
    report.kind, report.format = command.kind, command.format
    report.period_from, report.period_to = command.period_from, command.period_to
    report.status, report.error, report.created_at = "running", None, utcnow()
    return report


def _check_period(command: GenerateReport, settings: ReportsSettings) -> None:
    days = (command.period_to - command.period_from).days + 1
    if days > settings.max_period_days:
        raise ReportError(
            f"period of {days} days is over the maximum of {settings.max_period_days} days "
            "(REPORTS_MAX_PERIOD_DAYS)"
        )


def generate_report(command: GenerateReport, uow: UnitOfWork, reporter: Reporter) -> dict[str, Any]:
    """Generate, store and announce the report; a `ReportError` fails it with `report-failed`."""
    try:
        _check_period(command, reporter.settings)
    except ReportError as exc:
        fail_report(command, uow, str(exc))
        raise
    report = _claim(command, uow, reporter)
    if report is None:
        existing = uow.session.get(Report, command.report_id)
        if existing is None:  # _claim found it: a report row is only deleted by retention
            raise RuntimeError(f"report {command.report_id} vanished after its claim")
        return result_of(existing)
    uow.commit()
    try:
        stored, rows = _render_and_store(command, reporter)
    except ReportError as exc:
        fail_report(command, uow, str(exc))
        raise
    _finish(report, stored, rows, command, uow)
    progress.report(100, "done")
    return result_of(report, stored)


def _render_and_store(command: GenerateReport, reporter: Reporter) -> tuple[Stored, int]:
    content_type, extension = FORMATS[command.format]
    with reporter.scratch("report-") as folder:
        path = Path(folder) / f"{command.report_id}.{extension}"
        rows = render(command, reporter.reader, path, reporter.settings.max_file_bytes)
        progress.report(92, "storing")
        key = f"{utcnow():%Y/%m/%d}/{command.report_id}-{command.kind}.{extension}"
        return reporter.storage.put(key, path, content_type), rows


def _finish(
    report: Report, stored: Stored, rows: int, command: GenerateReport, uow: UnitOfWork
) -> None:
    report.status, report.size, report.rows = "generated", stored.size, rows
    report.location, report.completed_at = stored.location, utcnow()
    uow.session.merge(report)
    uow.publish(
        ReportGenerated(
            report_id=report.report_id,
            kind=report.kind,
            format=report.format,
            size=stored.size,
            location=stored.location,
            content_type=FORMATS[command.format][0],
            rows=rows,
            period_from=command.period_from,
            period_to=command.period_to,
            download_url=stored.download_url,
            download_expires_at=stored.expires_at,
        ),
        subject=report.report_id,
    )
    uow.commit()


def fail_report(command: GenerateReport, uow: UnitOfWork, reason: str) -> None:
    """Record the failure and publish `report-failed`, in one transaction of its own."""
    uow.rollback()
    report = uow.session.get(Report, command.report_id) or Report(report_id=command.report_id)
    report.kind, report.format = command.kind, command.format
    report.period_from, report.period_to = command.period_from, command.period_to
    report.status, report.error, report.completed_at = "failed", reason[:2000], utcnow()
    uow.session.merge(report)
    uow.publish(
        ReportFailed(
            report_id=command.report_id, reason=reason, kind=command.kind, format=command.format
        ),
        subject=command.report_id,
    )
    uow.commit()
