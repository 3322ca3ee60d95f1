"""Orders' handlers: plain functions over a unit of work."""

from __future__ import annotations

import logging
from typing import Any

from switchboard_shared.contracts.orders import CreateOrder, OrderCreated
from switchboard_shared.contracts.payments import PaymentFailed, PaymentSucceeded
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .models import IllegalTransition, Order

log = logging.getLogger("switchboard.orders")
registry = HandlerRegistry()


@registry.command(CreateOrder)
def create_order(command: CreateOrder, uow: UnitOfWork) -> dict[str, Any]:
    existing = uow.session.get(Order, command.order_id)
    if existing is not None:
        return {"order_id": existing.id, "status": existing.status}
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
    uow.session.add(order)
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


@registry.on(PaymentSucceeded)
def mark_order_paid(event: PaymentSucceeded, uow: UnitOfWork) -> None:
    _transition(uow, event.order_id, "paid", payment_id=event.payment_id)


@registry.on(PaymentFailed)
def mark_payment_failed(event: PaymentFailed, uow: UnitOfWork) -> None:
    _transition(uow, event.order_id, "payment_failed", failure_reason=event.reason)


def _transition(uow: UnitOfWork, order_id: str, status: Any, **fields: Any) -> None:
    order = uow.session.get(Order, order_id)
    if order is None:
        log.warning("event for unknown order %s ignored", order_id)
        return
    try:
        order.move_to(status)
    except IllegalTransition as exc:
        log.warning("refused: %s", exc)
        return
    for name, value in fields.items():
        setattr(order, name, value)
