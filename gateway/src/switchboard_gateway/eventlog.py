"""The gateway's subscriber: log every event, and keep the order read model."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, case, func
from switchboard_shared.contracts import EVENTS, Envelope, Event
from switchboard_shared.db import per_dialect
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from switchboard_gateway.models import EventLogEntry, OrderView
from switchboard_gateway.report_views import REPORT_EVENTS, project_report

registry = HandlerRegistry()

# Where each event leaves an order; a later-ranked status is never overwritten by an
# earlier one, so events arriving out of order cannot move the view backwards.
ORDER_STATUS_BY_EVENT = {
    "order-created": "pending_payment",
    "payment-failed": "payment_failed",
    "payment-succeeded": "paid",
    "order-unmatched": "unmatched",
    "order-matched": "matched",
    "order-cancelled": "cancelled",
    "payment-refunded": "refunded",
}
RANK = {status: rank for rank, status in enumerate(ORDER_STATUS_BY_EVENT.values())}


EVENT_LOG: Table = EventLogEntry.__table__  # type: ignore[assignment]
ORDER_VIEWS: Table = OrderView.__table__  # type: ignore[assignment]


def _rank(column: Any) -> Any:
    return case(RANK, value=column, else_=-1)


def _order_upsert(dialect: Any, keep_amount: bool) -> Any:
    statement = dialect.insert(ORDER_VIEWS)
    new, old = statement.excluded, ORDER_VIEWS.c
    return statement.on_conflict_do_update(
        index_elements=[old.order_id],
        set_={
            "status": case((_rank(new.status) > _rank(old.status), new.status), else_=old.status),
            "amount": old.amount if keep_amount else new.amount,
            "currency": old.currency if keep_amount else new.currency,
            "supplier_id": func.coalesce(new.supplier_id, old.supplier_id),
            "payment_id": func.coalesce(new.payment_id, old.payment_id),
            "failure_reason": func.coalesce(new.failure_reason, old.failure_reason),
            "updated_at": new.updated_at,
        },
    )


# Built (and compiled) once per dialect: building an upsert costs more than running it.
_LOG = per_dialect(lambda dialect: dialect.insert(EVENT_LOG).on_conflict_do_nothing())
# Only order-created carries the order's amount; other events keep the stored one.
_ORDER_CREATED = per_dialect(lambda dialect: _order_upsert(dialect, keep_amount=False))
_ORDER_EVENT = per_dialect(lambda dialect: _order_upsert(dialect, keep_amount=True))


def _dialect(uow: UnitOfWork) -> str:
    return uow.session.get_bind().dialect.name


# Every event of the platform comes through here, so each write is one statement with no read
# first, and all of them are idempotent (the log ignores a known id, the projections only move
# forward): a redelivery changes nothing, and no inbox row is kept.
@registry.on(*(spec.model for spec in EVENTS.values()), idempotent=True)
def record_event(event: Event, uow: UnitOfWork, envelope: Envelope) -> None:
    row = {
        "id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "subject": envelope.subject,
        "correlation_id": envelope.correlationid,
        "causation_id": envelope.causationid,
        "time": envelope.time,
        "data": envelope.data,
        "received_at": utcnow(),
    }
    uow.session.execute(_LOG[_dialect(uow)], row)
    if envelope.type in ORDER_STATUS_BY_EVENT and "order_id" in envelope.data:
        project_order(uow, envelope.type, envelope.data)
    if envelope.type in REPORT_EVENTS:
        project_report(uow, envelope)


def project_order(uow: UnitOfWork, event_type: str, data: dict[str, Any]) -> None:
    """One upsert: events arriving in any order (or concurrently) leave the furthest status."""
    status = ORDER_STATUS_BY_EVENT[event_type]
    now = utcnow()
    upserts = _ORDER_CREATED if event_type == "order-created" else _ORDER_EVENT
    statement = upserts[_dialect(uow)]
    failure = (
        data.get("decline_code") or data.get("reason") if event_type == "payment-failed" else None
    )
    uow.session.execute(
        statement,
        {
            "order_id": data["order_id"],
            "status": status,
            "amount": data.get("amount", 0),
            "currency": data.get("currency", ""),
            "supplier_id": data.get("supplier_id") or None,
            "payment_id": data.get("payment_id") or None,
            "failure_reason": failure,
            "created_at": now,
            "updated_at": now,
        },
    )
