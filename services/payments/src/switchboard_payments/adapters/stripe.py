"""Stripe through the real `stripe` SDK (localstripe in development and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import stripe
from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass, register_classifier


class PaymentDeclined(Exception):
    """The card was refused: final, reported as `payment-failed`, never retried."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Charge:
    intent_id: str
    status: str  # succeeded | processing | requires_action | …
    amount: int
    currency: str


class PaymentProvider(Protocol):
    def charge(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge: ...
    def refund(self, *, intent_id: str, idempotency_key: str) -> str: ...
    def recent_intents(self, *, created_after: int, limit: int = 100) -> list[Charge]: ...


def _classify_stripe(exc: BaseException) -> FailureClass | None:
    if not isinstance(exc, stripe.StripeError):
        return None
    if isinstance(exc, stripe.RateLimitError):
        return FailureClass.PROVIDER_5XX
    if isinstance(exc, stripe.APIConnectionError):
        return FailureClass.NETWORK
    status = exc.http_status or 0
    if status >= 500 or isinstance(exc, stripe.APIError):
        return FailureClass.PROVIDER_5XX
    return FailureClass.PROVIDER_4XX


register_classifier(_classify_stripe)


class StripeProvider:
    def __init__(self, api_key: str, api_base: str, timeout: float = 20.0) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.HTTPXClient(timeout=timeout)
            if hasattr(stripe, "HTTPXClient")
            else None,
        )

    @retry_blips()
    def charge(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {"order_id": order_id},
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        try:
            intent = self.client.v1.payment_intents.create(
                params=params, options={"idempotency_key": idempotency_key}
            )
        except stripe.CardError as exc:
            code = (exc.error.decline_code if exc.error else None) or exc.code or "card_declined"
            raise PaymentDeclined(code, exc.user_message or str(exc)) from exc
        return Charge(intent.id, intent.status, intent.amount, intent.currency)

    @retry_blips()
    def refund(self, *, intent_id: str, idempotency_key: str) -> str:
        refund = self.client.v1.refunds.create(
            params={"payment_intent": intent_id}, options={"idempotency_key": idempotency_key}
        )
        return str(refund.id)

    def recent_intents(self, *, created_after: int, limit: int = 100) -> list[Charge]:
        page = self.client.v1.payment_intents.list(
            params={"limit": limit, "created": {"gte": created_after}}
        )
        return [Charge(i.id, i.status, i.amount, i.currency) for i in page.data]


__all__ = ["Charge", "ClassifiedError", "PaymentDeclined", "PaymentProvider", "StripeProvider"]
