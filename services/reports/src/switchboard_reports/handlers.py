"""Reports' handlers: keep the read model, answer queries over it, render invoices, clean up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts import Envelope, Event
from switchboard_shared.contracts.payments import InvoiceIssued
from switchboard_shared.contracts.reports import QueryFacts
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .commands import CleanupReports, RebuildFacts
from .config import ReportsSettings
from .facts import rebuild, record_event
from .generation import Reporter
from .housekeeping import cleanup, store_invoice
from .models import DailyFact
from .projections import PROJECTED

registry = HandlerRegistry()


@registry.on(*PROJECTED)
def project(event: Event, uow: UnitOfWork, envelope: Envelope) -> None:
    """Add the event's row and daily facts; the inbox makes a redelivery add nothing."""
    record_event(uow.session, event, envelope)


@registry.on(InvoiceIssued)
def render_invoice_pdf(
    event: InvoiceIssued, uow: UnitOfWork, envelope: Envelope, reporter: Reporter
) -> None:
    store_invoice(event, envelope, uow, reporter)


@registry.command(QueryFacts)
def query_facts(command: QueryFacts, uow: UnitOfWork) -> dict[str, Any]:
    rows = uow.session.scalars(
        select(DailyFact)
        .where(DailyFact.day >= command.period_from, DailyFact.day <= command.period_to)
        .order_by(DailyFact.day, DailyFact.metric, DailyFact.key)
    )
    return {"facts": [_row(fact) for fact in rows]}


def _row(fact: DailyFact) -> dict[str, Any]:
    return {
        "day": fact.day.isoformat(),
        "metric": fact.metric,
        "key": fact.key,
        "value": fact.value,
    }


@registry.command(CleanupReports)
def cleanup_reports(
    command: CleanupReports, uow: UnitOfWork, reporter: Reporter, settings: ReportsSettings
) -> dict[str, Any]:
    days = settings.retention_days if command.retention_days is None else command.retention_days
    return cleanup(uow, reporter.storage, days)


@registry.command(RebuildFacts)
def rebuild_facts(command: RebuildFacts, uow: UnitOfWork) -> dict[str, Any]:
    return {"replayed": rebuild(uow.session)}
