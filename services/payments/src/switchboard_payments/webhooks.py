"""Stripe webhooks (verified and recorded by the gateway): forward moves only, no doubled effect."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import Charge
from .outcomes import apply_intent, payment_for_intent
from .refunds import mark_refunded

log = logging.getLogger("switchboard.payments")

# The status each intent event stands for, whatever else its snapshot says.
INTENT_EVENTS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.processing": "processing",
    "payment_intent.payment_failed": "requires_payment_method",
}
HANDLED = {*INTENT_EVENTS, "charge.refunded"}


def intent_of(obj: dict[str, Any]) -> Charge:
    metadata = obj.get("metadata") or {}
    error = obj.get("last_payment_error") or {}
    return Charge(
        intent_id=str(obj["id"]),
        status=str(obj.get("status") or ""),
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or ""),
        order_id=metadata.get("order_id"),
        created=int(obj.get("created") or 0),
        decline_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
    )


def apply_stripe_event(event: StripeEventReceived, uow: UnitOfWork) -> bool:
    """Apply one Stripe event; True when the payment moved (and its event was published)."""
    if event.stripe_type not in HANDLED:
        log.info("stripe event type not handled", extra={"stripe_type": event.stripe_type})
        return False
    obj = event.object
    order_id = (obj.get("metadata") or {}).get("order_id")
    intent_id = obj.get("id") if event.stripe_type in INTENT_EVENTS else obj.get("payment_intent")
    # Under the row lock the charge path takes too: a webhook that races the charge's own
    # answer waits for it, then finds the payment moved (one invoice, one payment-succeeded).
    payment = payment_for_intent(uow, intent_id, order_id, lock=True)
    if payment is None:
        log.warning(
            "stripe event for an unknown payment ignored",
            extra={"stripe_event_id": event.stripe_event_id, "intent": intent_id},
        )
        return False
    if event.stripe_type == "charge.refunded":
        if not obj.get("refunded") or payment.intent_id != intent_id:
            return False  # a partial refund, or a charge of another intent
        refunds = (obj.get("refunds") or {}).get("data") or [{}]
        return mark_refunded(payment, uow, refunds[0].get("id"))
    intent = replace(intent_of(obj), status=INTENT_EVENTS[event.stripe_type])
    if intent.status == "requires_payment_method" and not intent.decline_code:
        intent = replace(intent, failure_message=intent.failure_message or "payment failed")
    return apply_intent(payment, intent, uow)
