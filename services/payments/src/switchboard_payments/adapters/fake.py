"""An in-memory PaymentProvider for unit tests: programmable outcomes, every call recorded."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace

from switchboard_shared.failures import ProviderError

from .stripe import Charge, PaymentDeclined

_ids = itertools.count(1)


@dataclass
class FakePaymentProvider:
    """Charges succeed unless `decline[payment_method]` names a code or `outage` is set.

    `lose_response` makes the next charge succeed at the "provider" and then raise as if the
    response had timed out, like Stripe answering too late. Idempotency keys are ignored on
    purpose, as localstripe does, so a test sees a double charge if the service ever makes one.
    """

    decline: dict[str, str] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # payment methods left `processing`
    outage: ProviderError | None = None
    lose_response: bool = False
    intents: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def charge(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        self.calls.append(("charge", idempotency_key))
        if self.outage is not None:
            raise self.outage
        code = self.decline.get(payment_method)
        intent = Charge(
            intent_id=f"pi_fake_{next(_ids)}",
            status="requires_payment_method"
            if code
            else ("processing" if payment_method in self.slow else "succeeded"),
            amount=amount,
            currency=currency,
            order_id=order_id,
            created=int(time.time()),
            decline_code=code,
        )
        self.intents[intent.intent_id] = intent
        if code:
            raise PaymentDeclined(code, f"declined: {code}", intent.intent_id)
        if self.lose_response:
            self.lose_response = False
            raise ProviderError("timed out waiting for the provider", status=504)
        return intent

    def refund(self, *, intent_id: str, idempotency_key: str) -> str:
        self.calls.append(("refund", idempotency_key))
        if self.outage is not None:
            raise self.outage
        return self.refunds.setdefault(intent_id, f"re_fake_{next(_ids)}")

    def recent_intents(self, *, created_after: int, limit: int = 1000) -> list[Charge]:
        self.calls.append(("list", str(created_after)))
        if self.outage is not None:
            raise self.outage
        found = [c for c in self.intents.values() if c.created >= created_after]
        return sorted(found, key=lambda c: c.created, reverse=True)[:limit]

    def set_status(self, intent_id: str, status: str) -> None:
        """What Stripe would later report for an intent (reconciliation tests)."""
        self.intents[intent_id] = replace(self.intents[intent_id], status=status)

    def charges_for(self, order_id: str) -> list[Charge]:
        return [c for c in self.intents.values() if c.order_id == order_id]
