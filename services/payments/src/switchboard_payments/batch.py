"""Beat jobs: hourly reconciliation against the provider, and retries of retryable failures."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.stripe import Charge, PaymentProvider
from .charging import OPEN, PREFERENCE, call_provider, find_order_intent
from .models import Payment
from .outcomes import SETTLED, apply_intent, report_mismatch

log = logging.getLogger("switchboard.payments")

BATCH = 200


def _best(intents: list[Charge]) -> Charge:
    return min(intents, key=lambda c: (PREFERENCE.get(c.status, 2), -c.created))


def reconcile(uow: UnitOfWork, provider: PaymentProvider, lookback_hours: int) -> dict[str, int]:
    """Fix open or failed payments from the provider's intents; report what cannot be fixed."""
    since = utcnow() - timedelta(hours=lookback_hours)
    by_order: dict[str, list[Charge]] = defaultdict(list)
    for intent in provider.recent_intents(created_after=int(since.timestamp())):
        if intent.order_id:
            by_order[intent.order_id].append(intent)
    payments = uow.session.scalars(select(Payment).where(Payment.order_id.in_(list(by_order))))
    fixed = mismatches = 0
    for payment in payments:
        intents = by_order[payment.order_id]
        if payment.status not in SETTLED:
            fixed += apply_intent(payment, _best(intents), uow)
            continue
        for intent in intents:
            if intent.intent_id == payment.intent_id and intent.status != "succeeded":
                mismatches += report_mismatch(payment, uow, intent.status)
            elif intent.intent_id != payment.intent_id and intent.status == "succeeded":
                mismatches += report_mismatch(payment, uow, f"second charge {intent.intent_id}")
    summary = {"intents": sum(map(len, by_order.values())), "fixed": fixed}
    log.info("reconciled with the provider", extra={**summary, "mismatches": mismatches})
    return {**summary, "mismatches": mismatches}


def _due(uow: UnitOfWork, max_retries: int, grace: timedelta) -> list[Payment]:
    failed = (Payment.status == "failed") & Payment.retryable & (Payment.retries < max_retries)
    unsettled = (
        Payment.status.in_(OPEN)
        & Payment.intent_id.is_(None)
        & (Payment.charge_attempts > 0)
        & (Payment.updated_at < utcnow() - grace)
    )
    query = select(Payment).where(failed | unsettled).order_by(Payment.updated_at).limit(BATCH)
    return list(uow.session.scalars(query))


def _retry_one(payment: Payment, uow: UnitOfWork, provider: PaymentProvider) -> str:
    exclude = payment.intent_id if payment.status == "failed" else None
    found = find_order_intent(provider, payment, exclude=exclude)
    if found is not None and (payment.status != "failed" or found.status in PREFERENCE):
        return "adopted" if apply_intent(payment, found, uow) else "unchanged"
    if payment.status == "failed":
        payment.retries += 1  # a new idempotency key: the old one replays the failure
    payment.charge_attempts += 1
    payment.updated_at = utcnow()
    uow.commit()  # the claim, before the call (see charging)
    call_provider(payment, uow, provider)
    return "charged"


def retry_failed(
    uow: UnitOfWork, provider: PaymentProvider, *, max_retries: int, grace_seconds: float
) -> dict[str, Any]:
    """Charge again what failed for a non-card reason or never got an answer.

    Each payment commits on its own, so one payment's outage never undoes another's charge.
    """
    outcomes: dict[str, int] = defaultdict(int)
    for payment in _due(uow, max_retries, timedelta(seconds=grace_seconds)):
        try:
            outcomes[_retry_one(payment, uow, provider)] += 1
            uow.commit()
        except Exception as exc:
            uow.rollback()
            outcomes["errors"] += 1
            log.warning(
                "retry of payment failed", extra={"payment_id": payment.id, "error": str(exc)}
            )
    log.info("retried payments", extra=dict(outcomes))
    return dict(outcomes)
