"""What a provider's answer does to a payment: forward moves only, each effect published once."""

from __future__ import annotations

import logging

from sqlalchemy import Select, select
from switchboard_shared.contracts.payments import (
    PaymentFailed,
    PaymentReconciliationMismatch,
    PaymentSucceeded,
)
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import Charge
from .invoices import issue_invoice
from .models import RETRYABLE_DECLINES, Payment

log = logging.getLogger("switchboard.payments")

SETTLED = ("succeeded", "refunded")


def _read(uow: UnitOfWork, query: Select[tuple[Payment]], lock: bool) -> Payment | None:
    if lock:  # re-read under a row lock: another transaction may have moved it meanwhile
        query = query.with_for_update().execution_options(populate_existing=True)
    return uow.session.scalar(query)


def payment_for_order(uow: UnitOfWork, order_id: str, *, lock: bool = False) -> Payment | None:
    return _read(uow, select(Payment).where(Payment.order_id == order_id), lock)


def payment_for_intent(
    uow: UnitOfWork, intent_id: str | None, order_id: str | None, *, lock: bool = False
) -> Payment | None:
    """By intent id, else by the order id Stripe carries in the intent's metadata."""
    if intent_id:
        found = _read(uow, select(Payment).where(Payment.intent_id == intent_id), lock)
        if found is not None:
            return found
    return payment_for_order(uow, order_id, lock=lock) if order_id else None


def mark_succeeded(payment: Payment, uow: UnitOfWork) -> bool:
    if not payment.advance("succeeded"):
        return False
    payment.retryable = False
    uow.publish(
        PaymentSucceeded(
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=payment.amount,
            currency=payment.currency,
        ),
        subject=payment.order_id,
    )
    issue_invoice(payment, uow)
    return True


def mark_failed(
    payment: Payment,
    uow: UnitOfWork,
    *,
    reason: str,
    decline_code: str | None,
    retryable: bool | None = None,
) -> bool:
    """Record the failure; publish `payment-failed` only when the payment was still open."""
    if payment.status in SETTLED:
        return False
    payment.failure_reason = reason[:500]
    payment.decline_code = decline_code
    payment.retryable = decline_code in RETRYABLE_DECLINES if retryable is None else retryable
    if not payment.advance("failed"):
        return False
    uow.publish(
        PaymentFailed(
            payment_id=payment.id,
            order_id=payment.order_id,
            reason=payment.failure_reason,
            decline_code=decline_code,
            customer_email=payment.customer_email,
        ),
        subject=payment.order_id,
    )
    return True


def report_mismatch(payment: Payment, uow: UnitOfWork, provider_status: str) -> bool:
    """Publish `payment-reconciliation-mismatch` once per payment and provider status."""
    if payment.mismatch == provider_status:
        return False
    payment.mismatch = provider_status
    log.warning(
        "payment does not match the provider",
        extra={"payment_id": payment.id, "local": payment.status, "provider": provider_status},
    )
    uow.publish(
        PaymentReconciliationMismatch(
            payment_id=payment.id,
            order_id=payment.order_id,
            local_status=payment.status,
            provider_status=provider_status,
        ),
        subject=payment.order_id,
    )
    return True


def same_money(payment: Payment, intent: Charge) -> bool:
    return intent.amount == payment.amount and intent.currency.lower() == payment.currency.lower()


def refuse_other_money(payment: Payment, intent: Charge, uow: UnitOfWork) -> None:
    """An intent for another amount or currency never moves the payment, whatever its
    metadata says (anyone who can create an intent can name any order): a succeeded one is
    reported as a mismatch. Logged with the amounts only, never card details."""
    log.warning(
        "provider intent does not match the payment's amount",
        extra={
            "payment_id": payment.id,
            "intent": intent.intent_id,
            "intent_status": intent.status,
            "expected": f"{payment.amount} {payment.currency}",
            "received": f"{intent.amount} {intent.currency}",
        },
    )
    if intent.status == "succeeded":
        report_mismatch(payment, uow, f"{intent.intent_id}: {intent.amount} {intent.currency}")


def apply_intent(payment: Payment, intent: Charge, uow: UnitOfWork) -> bool:
    """Bring the payment up to what the provider says of one of its intents; True if it moved."""
    if not same_money(payment, intent):
        refuse_other_money(payment, intent, uow)
        return False
    if payment.intent_id not in (None, intent.intent_id):
        if intent.status != "succeeded":
            return False  # an older, superseded intent of this order
        if payment.status in SETTLED:
            return report_mismatch(payment, uow, f"second charge {intent.intent_id}")
    payment.intent_id = intent.intent_id
    if intent.status == "succeeded":
        return mark_succeeded(payment, uow)
    if intent.status in ("processing", "requires_capture"):
        return payment.advance("processing")
    if intent.status == "requires_action":
        return mark_failed(
            payment, uow, reason="authentication required", decline_code="authentication_required"
        )
    if intent.status == "canceled":
        return mark_failed(payment, uow, reason="payment canceled", decline_code=None)
    if intent.decline_code or intent.failure_message:
        reason = intent.failure_message or intent.decline_code or "declined"
        return mark_failed(payment, uow, reason=reason, decline_code=intent.decline_code)
    return False  # not attempted yet (requires_confirmation / requires_payment_method)
