"""Stripe through the real `stripe` SDK (localstripe in development and tests)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import stripe
from stripe.params import PaymentIntentCreateParams, PaymentIntentListParams
from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass, register_classifier

log = logging.getLogger("switchboard.payments.stripe")


class PaymentDeclined(Exception):
    """The card was refused: reported as `payment-failed` with the decline code."""

    def __init__(self, code: str, message: str, intent_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.intent_id = intent_id


@dataclass(frozen=True)
class Charge:
    """A PaymentIntent as far as payments cares."""

    intent_id: str
    status: str  # succeeded | processing | requires_payment_method | requires_action | …
    amount: int
    currency: str
    order_id: str | None = None
    created: int = 0
    decline_code: str | None = None
    failure_message: str | None = None


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
    def recent_intents(self, *, created_after: int, limit: int = 1000) -> list[Charge]: ...


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


def _plain(obj: Any) -> dict[str, Any]:
    """The SDK's objects are not dicts (stripe-python ≥ 15): their plain JSON form."""
    if obj is None:
        return {}
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _charge_of(obj: Any) -> Charge:
    intent = _plain(obj)
    metadata = intent.get("metadata") or {}
    error = intent.get("last_payment_error") or {}
    return Charge(
        intent_id=intent["id"],
        status=intent["status"],
        amount=intent["amount"],
        currency=intent["currency"],
        order_id=metadata.get("order_id"),
        created=int(intent.get("created") or 0),
        decline_code=error.get("decline_code") or error.get("code"),
        failure_message=error.get("message"),
    )


class StripeProvider:
    def __init__(self, api_key: str, api_base: str, timeout: float = 20.0) -> None:
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=0,
            http_client=stripe.HTTPXClient(timeout=timeout, allow_sync_methods=True),
        )
        self._created_filter = True  # localstripe refuses `created`: filtered here instead

    def charge(
        self,
        *,
        order_id: str,
        amount: int,
        currency: str,
        payment_method: str,
        idempotency_key: str,
    ) -> Charge:
        # No in-call blip retry: a timed-out create may have charged (see handlers/charging).
        # `raw_request`: the answer is read as plain JSON. Building the SDK's typed objects
        # and turning them back into a dict cost more CPU than the call itself.
        params: PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency,
            "payment_method": payment_method,
            "confirm": True,
            "metadata": {"order_id": order_id},
        }
        try:
            response = self.client.raw_request(
                "post", "/v1/payment_intents", **params, idempotency_key=idempotency_key
            )
        except stripe.CardError as exc:
            error = exc.error
            code = (error.decline_code if error else None) or exc.code or "card_declined"
            intent_id = _plain(error.payment_intent if error else None).get("id")
            raise PaymentDeclined(code, exc.user_message or str(exc), intent_id) from exc
        return _charge_of(response.data)

    @retry_blips()
    def refund(self, *, intent_id: str, idempotency_key: str) -> str:
        # Look first: providers that ignore idempotency keys (localstripe) would refund twice.
        done = self.client.v1.refunds.list(params={"payment_intent": intent_id, "limit": 10})
        for existing in done.data:
            if existing.status in ("succeeded", "pending"):
                return str(existing.id)
        refund = self.client.v1.refunds.create(
            params={"payment_intent": intent_id}, options={"idempotency_key": idempotency_key}
        )
        return str(refund.id)

    @retry_blips()
    def recent_intents(self, *, created_after: int, limit: int = 1000) -> list[Charge]:
        found = [c for c in self._intents(created_after) if c.created >= created_after]
        return sorted(found, key=lambda c: c.created, reverse=True)[:limit]

    def _intents(self, created_after: int) -> Iterator[Charge]:
        params: PaymentIntentListParams = {"limit": 100}
        if self._created_filter:
            params["created"] = {"gte": created_after}
        try:
            page = self.client.v1.payment_intents.list(params=params)
        except stripe.InvalidRequestError as exc:
            if not self._created_filter or "created" not in str(exc):
                raise
            log.info("provider cannot filter intents by created: filtering them here")
            self._created_filter = False
            yield from self._intents(created_after)
            return
        for intent in page.auto_paging_iter():
            yield _charge_of(intent)


__all__ = ["Charge", "ClassifiedError", "PaymentDeclined", "PaymentProvider", "StripeProvider"]
