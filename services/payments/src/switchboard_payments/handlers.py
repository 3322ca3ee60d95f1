"""Payments' handlers: plain functions over a unit of work."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.contracts.payments import PaymentRefunded, RefundPayment
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .models import Payment

registry = HandlerRegistry()


@registry.on(OrderCreated)
def open_payment(event: OrderCreated, uow: UnitOfWork) -> None:
    """Record the payment the order needs; charging it through Stripe follows in issue #3."""
    if uow.session.scalar(select(Payment).where(Payment.order_id == event.order_id)):
        return
    uow.session.add(
        Payment(
            id=f"pay_{event.order_id}",
            order_id=event.order_id,
            amount=event.amount,
            currency=event.currency,
            payment_method=event.payment_method,
            customer_email=event.customer_email,
        )
    )


@registry.command(RefundPayment)
def refund_payment(command: RefundPayment, uow: UnitOfWork) -> dict[str, Any]:
    payment = uow.session.scalar(select(Payment).where(Payment.order_id == command.order_id))
    if payment is None:
        raise ValidationFailure(f"no payment for order {command.order_id}")
    if payment.status != "succeeded":
        raise ValidationFailure(
            f"payment {payment.id} is {payment.status}; only a succeeded one refunds"
        )
    payment.advance("refunded")
    uow.publish(
        PaymentRefunded(
            payment_id=payment.id,
            order_id=payment.order_id,
            amount=payment.amount,
            currency=payment.currency,
        ),
        subject=payment.order_id,
    )
    return {"payment_id": payment.id, "status": payment.status}
