"""An order's match: reserve a supplier, move the order, announce the outcome."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from switchboard_shared.contracts.orders import OrderMatched, OrderUnmatched
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .allocation import allocate, need_of, release
from .models import Order

log = logging.getLogger("switchboard.orders")


def assign_supplier(uow: UnitOfWork, order: Order, *, announce_unmatched: bool = True) -> bool:
    """Match a paid or unmatched order; True when a supplier now holds its quantity.

    When none fits, a paid order becomes `unmatched` (announced once); an order that is
    already unmatched stays so quietly, so periodic retries do not repeat the event.
    """
    allocation = allocate(uow.session, need_of(order))
    if allocation.supplier_id is not None:
        order.move_to("matched")
        order.supplier_id = allocation.supplier_id
        order.failure_reason = None
        uow.publish(
            OrderMatched(
                order_id=order.id,
                supplier_id=allocation.supplier_id,
                customer_email=order.customer_email,
                amount=order.amount,
                currency=order.currency,
            ),
            subject=order.id,
        )
        return True
    if order.status == "paid":
        order.move_to("unmatched")
    else:
        order.updated_at = utcnow()  # tried now: the next periodic run starts with others
    order.failure_reason = allocation.reason[:200]
    if announce_unmatched:
        uow.publish(OrderUnmatched(order_id=order.id, reason=allocation.reason), subject=order.id)
    log.info("order %s unmatched: %s", order.id, allocation.reason)
    return False


def release_supplier(uow: UnitOfWork, order: Order) -> None:
    """Give a matched order's reservation back to its supplier."""
    if order.supplier_id is not None:
        release(uow.session, order.supplier_id, order.quantity)


@contextmanager
def correlated(uow: UnitOfWork, order_id: str) -> Iterator[None]:
    """Publish as part of the order's own flow (periodic work has no causing event)."""
    saved = uow.context
    uow.context = replace(saved, correlation_id=order_id)
    try:
        yield
    finally:
        uow.context = saved
