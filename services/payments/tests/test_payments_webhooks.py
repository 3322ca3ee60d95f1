"""Stripe webhooks: out of order and duplicated, they only ever move a payment forward once."""

from __future__ import annotations

import contextlib

from payments_harness import SLOW, Harness, order_created, stripe_event
from switchboard_payments.adapters.fake import FakePaymentProvider


def processing_order(
    harness: Harness, provider: FakePaymentProvider, order_id: str = "ord_1"
) -> str:
    harness.order(order_created(order_id, method=SLOW))
    assert harness.payment(order_id).status == "processing"
    return provider.charges_for(order_id)[0].intent_id


def test_duplicate_webhook_has_one_effect(harness: Harness, provider: FakePaymentProvider) -> None:
    intent = processing_order(harness, provider)
    succeeded = stripe_event("payment_intent.succeeded", intent, "ord_1", event_id="evt_1")
    for _ in range(3):
        harness.webhook(succeeded)

    assert harness.payment().status == "succeeded"
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_succeeded_before_processing_stays_succeeded(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    intent = processing_order(harness, provider)
    harness.webhook(stripe_event("payment_intent.succeeded", intent, "ord_1"))
    harness.webhook(stripe_event("payment_intent.processing", intent, "ord_1"))
    harness.webhook(
        stripe_event(
            "payment_intent.payment_failed",
            intent,
            "ord_1",
            last_payment_error={"code": "card_declined", "message": "declined"},
        )
    )

    assert harness.payment().status == "succeeded"
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_payment_failed_webhook_fails_with_decline_code(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    intent = processing_order(harness, provider)
    failed = stripe_event(
        "payment_intent.payment_failed",
        intent,
        "ord_1",
        last_payment_error={
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    )
    harness.webhook(failed)
    harness.webhook(failed)

    payment = harness.payment()
    assert (payment.status, payment.decline_code) == ("failed", "insufficient_funds")
    [event] = harness.published("payment-failed")
    assert event.data["decline_code"] == "insufficient_funds"
    assert event.data["reason"] == "Your card has insufficient funds."


def test_webhook_finds_a_payment_by_order_when_the_intent_was_never_recorded(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    from switchboard_shared.failures import ProviderError

    provider.lose_response = True
    with contextlib.suppress(ProviderError):
        harness.order(order_created("ord_1"))
    intent = provider.charges_for("ord_1")[0].intent_id
    harness.webhook(stripe_event("payment_intent.succeeded", intent, "ord_1"))

    payment = harness.payment()
    assert (payment.status, payment.intent_id) == ("succeeded", intent)
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_webhook_for_an_unknown_payment_is_ignored(harness: Harness) -> None:
    harness.webhook(stripe_event("payment_intent.succeeded", "pi_nobody", "ord_nobody"))
    harness.webhook(stripe_event("charge.refunded", "pi_nobody", "ord_nobody", refunded=True))
    assert harness.types() == []


def test_second_succeeded_intent_for_a_paid_order_is_a_mismatch(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1"))
    harness.webhook(stripe_event("payment_intent.succeeded", "pi_other", "ord_1"))
    harness.webhook(stripe_event("payment_intent.succeeded", "pi_other", "ord_1"))

    assert harness.payment().intent_id == provider.charges_for("ord_1")[0].intent_id
    [mismatch] = harness.published("payment-reconciliation-mismatch")
    assert mismatch.data["provider_status"] == "second charge pi_other"
    assert harness.types().count("payment-succeeded") == 1


def test_charge_refunded_webhook_refunds_once(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1"))
    intent = harness.payment().intent_id
    assert intent is not None
    partial = stripe_event("charge.refunded", intent, "ord_1", refunded=False)
    harness.webhook(partial)
    assert harness.payment().status == "succeeded"

    full = stripe_event(
        "charge.refunded", intent, "ord_1", refunded=True, refunds={"data": [{"id": "re_1"}]}
    )
    harness.webhook(full)
    harness.webhook(full)
    harness.webhook(stripe_event("payment_intent.succeeded", intent, "ord_1"))  # late

    payment = harness.payment()
    assert (payment.status, payment.refund_id) == ("refunded", "re_1")
    assert harness.types() == ["payment-succeeded", "invoice-issued", "payment-refunded"]
