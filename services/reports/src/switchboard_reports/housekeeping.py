"""Cleanup of old reports, and the invoice PDF for each issued invoice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts import Envelope
from switchboard_shared.contracts.payments import InvoiceIssued
from switchboard_shared.contracts.reports import ReportGenerated
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.storage import ReportStorage
from .facts import as_utc
from .generation import Reporter
from .models import Report

log = logging.getLogger("switchboard.reports")
INVOICE = "invoice"


def cleanup(
    uow: UnitOfWork, storage: ReportStorage, retention_days: int, now: datetime | None = None
) -> dict[str, Any]:
    """Delete every report (not invoices) created before now − retention, file and record."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    query = select(Report).where(Report.created_at < cutoff, Report.kind != INVOICE)
    deleted: list[str] = []
    for report in uow.session.scalars(query).all():
        if report.location:
            storage.delete(report.location)
        uow.session.delete(report)
        deleted.append(report.report_id)
    uow.commit()
    log.info("cleaned up old reports", extra={"deleted": len(deleted), "cutoff": str(cutoff)})
    return {"deleted": len(deleted), "report_ids": deleted[:100], "cutoff": cutoff.isoformat()}


def store_invoice(
    event: InvoiceIssued,
    envelope: Envelope,
    uow: UnitOfWork,
    reporter: Reporter,
) -> None:
    from .rendering.invoice import render_invoice

    issued = as_utc(envelope.time)
    report_id = f"invoice-{event.invoice_number}"
    with reporter.scratch("invoice-") as folder:
        path = Path(folder) / f"{event.invoice_number}.pdf"
        render_invoice(event, issued.date(), path)
        stored = reporter.storage.put(
            f"invoices/{issued:%Y}/{event.invoice_number}.pdf", path, "application/pdf"
        )
    report = Report(
        report_id=report_id,
        kind=INVOICE,
        format="pdf",
        period_from=issued.date(),
        period_to=issued.date(),
        status="generated",
        size=stored.size,
        rows=1,
        location=stored.location,
        completed_at=utcnow(),
    )
    uow.session.merge(report)
    uow.publish(
        ReportGenerated(
            report_id=report_id,
            kind=INVOICE,
            format="pdf",
            size=stored.size,
            location=stored.location,
            content_type="application/pdf",
            rows=1,
            download_url=stored.download_url,
            download_expires_at=stored.expires_at,
        ),
        subject=event.order_id,
    )
