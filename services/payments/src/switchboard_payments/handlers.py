"""Payments' handlers: plain functions over a unit of work and the payment provider."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.contracts.orders import OrderCancelled, OrderCreated
from switchboard_shared.contracts.payments import RefundPayment
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import PaymentProvider
from .batch import reconcile, retry_failed
from .charging import charge_order
from .commands import ReconcilePayments, RetryFailedPayments
from .config import PaymentsSettings
from .refunds import refund_order
from .webhooks import apply_stripe_event

registry = HandlerRegistry()


# Idempotent by the payment's own state (an order has one payment, and a charge is claimed on
# it before the provider is called: `charging`), so the kit keeps no inbox row: a redelivery
# finds the payment and does not charge again.
@registry.on(OrderCreated, idempotent=True)
def charge_for_order(event: OrderCreated, uow: UnitOfWork, payments: PaymentProvider) -> None:
    charge_order(event, uow, payments)


@registry.on(StripeEventReceived)
def apply_stripe_webhook(event: StripeEventReceived, uow: UnitOfWork) -> None:
    apply_stripe_event(event, uow)


@registry.on(OrderCancelled)
def refund_cancelled_order(
    event: OrderCancelled, uow: UnitOfWork, payments: PaymentProvider
) -> None:
    if event.was_paid:
        refund_order(event.order_id, uow, payments)


@registry.command(RefundPayment)
def refund_payment(
    command: RefundPayment, uow: UnitOfWork, payments: PaymentProvider
) -> dict[str, Any]:
    payment = refund_order(command.order_id, uow, payments)
    return {"payment_id": payment.id, "status": payment.status}


@registry.command(ReconcilePayments)
def reconcile_payments(
    command: ReconcilePayments,
    uow: UnitOfWork,
    payments: PaymentProvider,
    settings: PaymentsSettings,
) -> dict[str, Any]:
    hours = command.lookback_hours or settings.reconcile_lookback_hours
    return reconcile(uow, payments, hours)


@registry.command(RetryFailedPayments)
def retry_failed_payments(
    command: RetryFailedPayments,
    uow: UnitOfWork,
    payments: PaymentProvider,
    settings: PaymentsSettings,
) -> dict[str, Any]:
    return retry_failed(
        uow,
        payments,
        max_retries=settings.max_charge_retries,
        grace_seconds=settings.unsettled_grace_seconds,
    )
