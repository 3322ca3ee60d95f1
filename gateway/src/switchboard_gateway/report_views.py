"""The gateway's view of reports, projected from the `report-*` events in its event log.

A row is written when the gateway accepts a report (so a report is known before its first
event), then moved forward by `report-generated` / `report-failed`. The reports service's
database is never read.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, Session, mapped_column
from switchboard_shared.contracts import Envelope
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from switchboard_gateway.models import Base

REPORT_EVENTS = ("report-generated", "report-failed")


class ReportView(Base):
    __tablename__ = "report_views"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    format: Mapped[str] = mapped_column(String(10))
    period_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    batch_task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str | None] = mapped_column(String(500), nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(120), nullable=True)
    download_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    download_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def report_submitted(session: Session, view: ReportView) -> None:
    if session.get(ReportView, view.report_id) is None:
        session.add(view)


def project_report(uow: UnitOfWork, envelope: Envelope) -> None:
    """Apply a `report-generated` / `report-failed` event; a report may be made by the
    service itself (daily runs, invoices), so an unknown id starts a view."""
    data: dict[str, Any] = envelope.data
    view = uow.session.get(ReportView, data["report_id"], with_for_update=True)
    if view is None:
        view = ReportView(
            report_id=data["report_id"],
            kind=data.get("kind") or "",
            format=data.get("format") or "",
        )
        uow.session.add(view)
    if envelope.type == "report-generated":
        view.status, view.error = "generated", None
        view.size, view.rows = data["size"], data.get("rows", 0)
        view.location, view.content_type = data["location"], data.get("content_type")
        view.download_url = data.get("download_url")
        expires = data.get("download_expires_at")
        view.download_expires_at = datetime.fromisoformat(expires) if expires else None
        for field in ("period_from", "period_to"):
            if data.get(field):
                setattr(view, field, date.fromisoformat(data[field]))
    elif view.status != "generated":  # a late failure of an earlier try never hides a report
        view.status, view.error = "failed", data.get("reason")
    view.completed_at = envelope.time
