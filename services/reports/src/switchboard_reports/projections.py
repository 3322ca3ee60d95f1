"""Which facts each event adds to. Pure: event in, (metric, key, amount) increments out."""

from __future__ import annotations

from switchboard_shared.contracts import Event
from switchboard_shared.contracts.email import EmailBounced, EmailSent
from switchboard_shared.contracts.integrations import WebhookDelivered, WebhookFailed
from switchboard_shared.contracts.orders import OrderCreated, OrderMatched, OrderUnmatched
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded

Increment = tuple[str, str, int]


def increments(event: Event) -> list[Increment]:
    match event:
        case OrderCreated():
            return [("orders_placed", "", 1), ("order_value", event.currency, event.amount)]
        case OrderMatched():
            return [("orders_matched", "", 1)]
        case OrderUnmatched():
            return [("orders_unmatched", "", 1)]
        case PaymentSucceeded():
            return [("revenue", event.currency, event.amount), ("payments_succeeded", "", 1)]
        case PaymentFailed():
            return [("payments_failed", event.decline_code or event.reason[:64], 1)]
        case PaymentRefunded():
            return [("refunds", event.currency, event.amount)]
        case EmailSent():
            return [("emails_sent", "", 1)]
        case EmailBounced():
            return [("emails_bounced", "", 1)]
        case WebhookDelivered():
            return [("webhooks_delivered", "", 1)]
        case WebhookFailed():
            return [("webhooks_failed", "", 1)]
    return []


PROJECTED = (
    OrderCreated,
    OrderMatched,
    OrderUnmatched,
    PaymentSucceeded,
    PaymentFailed,
    PaymentRefunded,
    EmailSent,
    EmailBounced,
    WebhookDelivered,
    WebhookFailed,
)
