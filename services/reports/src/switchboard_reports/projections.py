"""Which facts each event adds to. Pure: event in, (metric, key, amount) increments and one row out."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from switchboard_shared.contracts import Event
from switchboard_shared.contracts.email import EmailBounced, EmailFailed, EmailSent
from switchboard_shared.contracts.integrations import (
    SmsDelivered,
    SmsFailed,
    WebhookDelivered,
    WebhookFailed,
)
from switchboard_shared.contracts.orders import (
    OrderCancelled,
    OrderCreated,
    OrderMatched,
    OrderUnmatched,
)
from switchboard_shared.contracts.payments import (
    InvoiceIssued,
    PaymentFailed,
    PaymentRefunded,
    PaymentSucceeded,
)

Increment = tuple[str, str, int]


@dataclass(frozen=True)
class Row:
    """An event as one report row: who it is about, a key (currency, reason), money, detail."""

    subject: str = ""
    key: str = ""
    amount: int = 0
    detail: str = ""


def increments(event: Event) -> list[Increment]:
    match event:
        case OrderCreated():
            return [("orders_placed", "", 1), ("order_value", event.currency, event.amount)]
        case OrderMatched():
            return [("orders_matched", "", 1)]
        case OrderUnmatched():
            return [("orders_unmatched", "", 1)]
        case OrderCancelled():
            return [("orders_cancelled", "", 1)]
        case PaymentSucceeded():
            return [("revenue", event.currency, event.amount), ("payments_succeeded", "", 1)]
        case PaymentFailed():
            return [("payments_failed", failure_reason(event), 1)]
        case PaymentRefunded():
            return [("refunds", event.currency, event.amount), ("refunds_count", "", 1)]
        case InvoiceIssued():
            return [("invoices_issued", event.currency, 1)]
        case EmailSent():
            return [("emails_sent", "", 1)]
        case EmailBounced():
            return [("emails_bounced", "", 1)]
        case EmailFailed():
            return [("emails_failed", "", 1)]
        case WebhookDelivered():
            return [("webhooks_delivered", "", 1)]
        case WebhookFailed():
            return [("webhooks_failed", "", 1)]
        case SmsDelivered():
            return [("sms_delivered", "", 1)]
        case SmsFailed():
            return [("sms_failed", "", 1)]
    return []


def failure_reason(event: PaymentFailed) -> str:
    return (event.decline_code or event.reason)[:64]


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def row_of(event: Event) -> Row:
    """The report row of an event; never a customer's address (reports are shared widely)."""
    match event:
        case OrderCreated():
            detail = f"{event.category} / {event.region}"
            return Row(event.order_id, event.currency, event.amount, detail)
        case OrderMatched():
            return Row(event.order_id, event.currency, event.amount, event.supplier_id)
        case OrderUnmatched():
            return Row(event.order_id, detail=event.reason[:200])
        case OrderCancelled():
            return Row(event.order_id, detail="paid" if event.was_paid else "unpaid")
        case PaymentSucceeded() | PaymentRefunded():
            return Row(event.order_id, event.currency, event.amount, event.payment_id)
        case PaymentFailed():
            return Row(event.order_id, failure_reason(event), 0, event.payment_id)
        case InvoiceIssued():
            return Row(event.order_id, event.currency, event.amount, event.invoice_number)
        case EmailSent():
            return Row(event.message_id, detail=event.to.rpartition("@")[2])
        case EmailBounced() | EmailFailed():
            return Row(event.message_id, event.reason[:64])
        case WebhookDelivered():
            return Row(event.delivery_id, event.event_type, 0, _host(event.url))
        case WebhookFailed():
            return Row(event.delivery_id, event.event_type, 0, event.reason[:200])
        case SmsDelivered():
            return Row(event.message_sid)
        case SmsFailed():
            return Row(event.message_sid, event.reason[:64])
    return Row()


PROJECTED = (
    OrderCreated,
    OrderMatched,
    OrderUnmatched,
    OrderCancelled,
    PaymentSucceeded,
    PaymentFailed,
    PaymentRefunded,
    InvoiceIssued,
    EmailSent,
    EmailBounced,
    EmailFailed,
    WebhookDelivered,
    WebhookFailed,
    SmsDelivered,
    SmsFailed,
)
