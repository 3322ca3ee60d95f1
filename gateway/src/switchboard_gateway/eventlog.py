"""The gateway's subscriber: log every event, and keep the order read model."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts import EVENTS, Envelope, Event
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


@registry.on(*(spec.model for spec in EVENTS.values()))
def record_event(event: Event, uow: UnitOfWork, envelope: Envelope) -> None:
    if uow.session.get(EventLogEntry, envelope.id) is None:
        uow.session.add(
            EventLogEntry(
                id=envelope.id,
                type=envelope.type,
                source=envelope.source,
                subject=envelope.subject,
                correlation_id=envelope.correlationid,
                causation_id=envelope.causationid,
                time=envelope.time,
                data=envelope.data,
            )
        )
    if envelope.type in ORDER_STATUS_BY_EVENT and "order_id" in envelope.data:
        project_order(uow, envelope.type, envelope.data)
    if envelope.type in REPORT_EVENTS:
        project_report(uow, envelope)


def project_order(uow: UnitOfWork, event_type: str, data: dict[str, Any]) -> None:
    view = uow.session.get(OrderView, data["order_id"], with_for_update=True)
    if view is None:
        view = OrderView(
            order_id=data["order_id"],
            status="pending_payment",
            amount=data.get("amount", 0),
            currency=data.get("currency", ""),
        )
        uow.session.add(view)
    status = ORDER_STATUS_BY_EVENT[event_type]
    if RANK[status] > RANK.get(view.status, -1):
        view.status = status
    if event_type == "order-created":
        view.amount, view.currency = data["amount"], data["currency"]
    view.supplier_id = data.get("supplier_id") or view.supplier_id
    view.payment_id = data.get("payment_id") or view.payment_id
    if event_type == "payment-failed":
        view.failure_reason = data.get("decline_code") or data.get("reason")
    view.updated_at = utcnow()
