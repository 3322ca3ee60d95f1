"""Orders' life-cycle handlers: plain functions over a unit of work.

Event handlers refuse an illegal transition by logging it and leaving the order as it is
(a late or duplicate event must not move an order backwards). Commands refuse it loudly
with a `ValidationFailure`, which is never retried.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from switchboard_shared.contracts.orders import (
    CancelOrder,
    CreateOrder,
    OrderCancelled,
    OrderCreated,
)
from switchboard_shared.contracts.payments import PaymentFailed, PaymentRefunded, PaymentSucceeded
from switchboard_shared.db import insert_new
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.uow import UnitOfWork

from . import periodic, suppliers  # noqa: F401  (register their handlers)
from .assignment import assign_supplier, release_supplier
from .models import IllegalTransition, Order
from .registry import registry

__all__ = ["registry"]

log = logging.getLogger("switchboard.orders")


# Idempotent by the order's id: a second delivery finds the order and answers with its status.
@registry.command(CreateOrder, idempotent=True)
def create_order(command: CreateOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = Order(
        id=command.order_id,
        status="pending_payment",
        customer_email=str(command.customer.email),
        customer_phone=command.customer.phone,
        category=command.category,
        region=command.region,
        quantity=sum(item.quantity for item in command.items),
        amount=sum(item.quantity * item.unit_amount for item in command.items),
        currency=command.currency,
        payment_method=command.payment_method,
    )
    if not insert_new(uow.session, order):  # the same order sent again in another message
        status = uow.session.execute(select(Order.status).where(Order.id == order.id)).scalar_one()
        return {"order_id": order.id, "status": status}
    uow.publish(
        OrderCreated(
            order_id=order.id,
            customer_email=order.customer_email,
            customer_phone=order.customer_phone,
            category=order.category,
            region=order.region,
            quantity=order.quantity,
            amount=order.amount,
            currency=order.currency,
            payment_method=order.payment_method,
        ),
        subject=order.id,
    )
    return {"order_id": order.id, "status": order.status}


# The payment handlers are idempotent by the order's state machine: a second delivery finds the
# order moved on and its transition refused, so the kit keeps no inbox row for them.
@registry.on(PaymentSucceeded, idempotent=True)
def mark_order_paid(event: PaymentSucceeded, uow: UnitOfWork) -> None:
    order = _locked(uow, event.order_id)
    if order is None or not _moved(order, "paid"):
        return
    order.payment_id = event.payment_id
    order.failure_reason = None
    assign_supplier(uow, order)


@registry.on(PaymentFailed, idempotent=True)
def mark_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
    order = _locked(uow, event.order_id)
    if order is not None and _moved(order, "payment_failed"):
        order.failure_reason = event.reason[:200]


@registry.on(PaymentRefunded, idempotent=True)
def mark_refunded(event: PaymentRefunded, uow: UnitOfWork) -> None:
    order = _locked(uow, event.order_id)
    if order is None:
        return
    held = order.status == "matched"
    if _moved(order, "refunded") and held:
        release_supplier(uow, order)


@registry.command(CancelOrder)
def cancel_order(command: CancelOrder, uow: UnitOfWork) -> dict[str, Any]:
    order = _locked(uow, command.order_id)
    if order is None:
        raise ValidationFailure(f"order {command.order_id} does not exist")
    was_paid, held = order.was_paid, order.status == "matched"
    try:
        order.move_to("cancelled")
    except IllegalTransition as exc:
        log.warning("cancel refused: %s", exc)
        raise ValidationFailure(
            f"order {order.id} cannot be cancelled: it is {order.status}"
        ) from exc
    order.cancel_reason = command.reason[:200]
    if held:
        release_supplier(uow, order)
    uow.publish(OrderCancelled(order_id=order.id, was_paid=was_paid), subject=order.id)
    return {"order_id": order.id, "status": order.status, "was_paid": was_paid}


def _locked(uow: UnitOfWork, order_id: str) -> Order | None:
    """The order, row-locked until commit (PostgreSQL; SQLite serialises writers anyway)."""
    order = uow.session.get(Order, order_id, with_for_update=True)
    if order is None:
        log.warning("message for unknown order %s ignored", order_id)
    return order


def _moved(order: Order, status: Any) -> bool:
    try:
        order.move_to(status)
    except IllegalTransition as exc:
        log.warning("refused: %s", exc)
        return False
    return True
