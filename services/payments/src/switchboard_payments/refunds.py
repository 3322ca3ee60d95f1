"""Refunds: one per paid order, shared by `order-cancelled` and the `payments.refund` command."""

from __future__ import annotations

import logging

from switchboard_shared.contracts.payments import PaymentRefunded
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import PaymentProvider
from .models import Payment
from .outcomes import payment_for_order

log = logging.getLogger("switchboard.payments")


def mark_refunded(payment: Payment, uow: UnitOfWork, refund_id: str | None = None) -> bool:
    """Move to refunded and publish `payment-refunded`; False when it already was."""
    if payment.status != "succeeded" or not payment.advance("refunded"):
        return False
    payment.refund_id = refund_id or payment.refund_id
    uow.publish(
        PaymentRefunded(
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=payment.amount,
            currency=payment.currency,
        ),
        subject=payment.order_id,
    )
    return True


def refund_order(order_id: str, uow: UnitOfWork, provider: PaymentProvider) -> Payment:
    """Refund the order's payment through the provider (key `refund-<order id>`).

    Already refunded: nothing is called or published again. Not (yet) succeeded: refused
    with a `ValidationFailure`, which is never retried.
    """
    payment = payment_for_order(uow, order_id, lock=True)
    if payment is None:
        raise ValidationFailure(f"no payment for order {order_id}")
    if payment.status == "refunded":
        return payment
    if payment.status != "succeeded" or payment.intent_id is None:
        raise ValidationFailure(
            f"payment {payment.id} is {payment.status}; only a succeeded one refunds"
        )
    refund_id = provider.refund(intent_id=payment.intent_id, idempotency_key=f"refund-{order_id}")
    mark_refunded(payment, uow, refund_id)
    return payment
