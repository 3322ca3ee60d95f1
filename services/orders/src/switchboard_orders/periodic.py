"""Beat's work: retry matching of unmatched orders, remind customers of unpaid orders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts.orders import OrderPaymentReminder
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .assignment import assign_supplier, correlated
from .commands import RematchUnmatched, SendPaymentReminders
from .models import Order
from .registry import registry


@registry.command(RematchUnmatched)
def rematch_unmatched(command: RematchUnmatched, uow: UnitOfWork) -> dict[str, Any]:
    """Least recently tried unmatched orders first, so a backlog larger than `limit` is
    worked through in turn; rows another run holds are skipped, not waited for."""
    orders = uow.session.scalars(
        select(Order)
        .where(Order.status == "unmatched")
        .order_by(Order.updated_at, Order.id)
        .limit(command.limit)
        .with_for_update(skip_locked=True)
    ).all()
    matched = 0
    for order in orders:
        with correlated(uow, order.id):
            matched += assign_supplier(uow, order, announce_unmatched=False)
    return {"checked": len(orders), "matched": matched}


@registry.command(SendPaymentReminders)
def send_payment_reminders(command: SendPaymentReminders, uow: UnitOfWork) -> dict[str, Any]:
    """One `order-payment-reminder` per order left in pending_payment too long."""
    now = utcnow()
    cutoff = now - timedelta(hours=command.older_than_hours)
    orders = uow.session.scalars(
        select(Order)
        .where(
            Order.status == "pending_payment",
            Order.created_at < cutoff,
            Order.reminded_at.is_(None),
        )
        .order_by(Order.created_at, Order.id)
        .limit(command.limit)
        .with_for_update(skip_locked=True)
    ).all()
    for order in orders:
        order.reminded_at = now
        with correlated(uow, order.id):
            uow.publish(
                OrderPaymentReminder(
                    order_id=order.id,
                    customer_email=order.customer_email,
                    amount=order.amount,
                    currency=order.currency,
                ),
                subject=order.id,
            )
    return {"reminded": len(orders)}
