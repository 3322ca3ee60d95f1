"""Charging an order exactly once, through a provider that may answer late or never.

The window between "Stripe charged" and "our transaction committed" is closed in two layers:

1. Every charge of an order uses the idempotency key `order-<id>` (a retry of a failed
   payment: `order-<id>-retry-<n>`); Stripe replays the first answer for 24 h.
2. Before calling the provider, the attempt is *claimed*: `charge_attempts` is bumped and
   committed on its own (an order's first attempt is claimed by inserting its payment). A
   later run that finds attempts but no intent id knows an earlier call's outcome is unknown
   (timeout, 5xx, a killed worker, a failed commit) and looks the intent up by its
   `metadata.order_id` first, adopting it if the provider has one. This also holds for
   providers that ignore idempotency keys (localstripe). No database transaction is held
   open during the network call.
"""

from __future__ import annotations

import logging
from datetime import UTC, timedelta

from switchboard_shared.contracts.orders import OrderCreated
from switchboard_shared.db import insert_new
from switchboard_shared.failures import ClassifiedError, FailureClass
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import Charge, PaymentDeclined, PaymentProvider
from .models import Payment
from .outcomes import apply_intent, mark_failed, payment_for_order

log = logging.getLogger("switchboard.payments")

OPEN = ("pending", "processing")
LOOKUP_SLACK = timedelta(minutes=10)
PREFERENCE = {"succeeded": 0, "processing": 1, "requires_capture": 1}


class ChargeInFlight(ClassifiedError):
    """Another delivery of the same order is calling the provider right now: try again later."""

    failure_class = FailureClass.PROVIDER_5XX


def needs_charge(payment: Payment | None) -> bool:
    return payment is None or (payment.intent_id is None and payment.status in OPEN)


def find_order_intent(
    provider: PaymentProvider, payment: Payment, *, exclude: str | None = None
) -> Charge | None:
    """The order's intent at the provider (succeeded first), by `metadata.order_id`."""
    created = payment.created_at
    if created.tzinfo is None:  # SQLite gives back naive datetimes (stored in UTC)
        created = created.replace(tzinfo=UTC)
    since = int((created - LOOKUP_SLACK).timestamp())
    intents = [
        c
        for c in provider.recent_intents(created_after=since)
        if c.order_id == payment.order_id and c.intent_id != exclude
    ]
    intents.sort(key=lambda c: (PREFERENCE.get(c.status, 2), -c.created))
    return intents[0] if intents else None


def open_payment(event: OrderCreated) -> Payment:
    return Payment(
        id=f"pay_{event.order_id}",
        order_id=event.order_id,
        amount=event.amount,
        currency=event.currency,
        payment_method=event.payment_method,
        customer_email=event.customer_email,
        status="pending",
        charge_attempts=0,
        retries=0,
        created_at=utcnow(),
        updated_at=utcnow(),
    )


def claim_first_charge(uow: UnitOfWork, event: OrderCreated) -> Payment | None:
    """Commit the order's payment with its first attempt claimed; None if it has one already.

    One `INSERT … ON CONFLICT DO NOTHING` in a transaction of its own: no read first, and no
    row lock to wait for unless another delivery of the same order is inserting it right now.
    The returned payment is the values inserted (not attached to the session).
    """
    uow.rollback()
    payment = open_payment(event)
    payment.charge_attempts = 1
    payment.advance("processing")
    if not insert_new(uow.session, payment):
        uow.rollback()
        return None
    uow.commit()
    return payment


def claim_charge(uow: UnitOfWork, event: OrderCreated, seen_attempts: int) -> Payment | None:
    """Commit "attempt n+1 starts now" on its own; None if the payment no longer needs one.

    Rolls back what the caller staged first: the outcome is stored in a transaction after the
    provider's answer.
    """
    uow.rollback()
    payment = payment_for_order(uow, event.order_id, lock=True)
    if payment is None:
        payment = open_payment(event)
        uow.session.add(payment)
    elif not needs_charge(payment):
        return None
    elif payment.charge_attempts != seen_attempts:
        raise ChargeInFlight(f"a charge of order {event.order_id} is in flight", retry_after=5)
    payment.charge_attempts += 1
    payment.advance("processing")
    uow.commit()
    return payment


def call_provider(payment: Payment, uow: UnitOfWork, provider: PaymentProvider) -> None:
    """One charge call; a decline is recorded, a transient failure propagates (retried)."""
    try:
        intent = provider.charge(
            order_id=payment.order_id,
            amount=payment.amount,
            currency=payment.currency,
            payment_method=payment.payment_method,
            idempotency_key=payment.idempotency_key,
        )
    except PaymentDeclined as exc:
        fresh = payment_for_order(uow, payment.order_id, lock=True) or payment
        if exc.intent_id and fresh.intent_id in (None, exc.intent_id):
            fresh.intent_id = exc.intent_id
        mark_failed(fresh, uow, reason=str(exc), decline_code=exc.code)
        return
    fresh = payment_for_order(uow, payment.order_id, lock=True) or payment
    apply_intent(fresh, intent, uow)


def charge_order(event: OrderCreated, uow: UnitOfWork, provider: PaymentProvider) -> None:
    """Charge the order unless it was charged already (or is being charged right now).

    A claim commits on its own, dropping what the caller had staged; the outcome is left
    staged for the caller to commit.
    """
    claimed = claim_first_charge(uow, event)
    if claimed is None:  # charged, being charged, or an earlier attempt's outcome is unknown
        payment = payment_for_order(uow, event.order_id)
        if payment is None or not needs_charge(payment):
            return
        seen = payment.charge_attempts
        if seen:
            found = find_order_intent(provider, payment)
            if found is not None:
                log.info(
                    "adopting the intent of an earlier attempt", extra={"intent": found.intent_id}
                )
                apply_intent(payment, found, uow)
                return
        claimed = claim_charge(uow, event, seen)
    if claimed is not None:
        call_provider(claimed, uow, provider)
