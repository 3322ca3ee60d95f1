"""Charging on `order-created`: once per order, whatever the provider or the bus does."""

from __future__ import annotations

import pytest
import stripe
from payments_harness import DECLINE, Harness, order_created
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_payments.charging import ChargeInFlight
from switchboard_shared.blips import TRANSIENT
from switchboard_shared.failures import FailureClass, ProviderError, classify


def test_order_created_charges_once_and_publishes_success(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", amount=4200))

    payment = harness.payment("ord_1")
    assert payment.status == "succeeded"
    assert payment.intent_id == provider.charges_for("ord_1")[0].intent_id
    assert provider.calls == [("charge", "order-ord_1")]
    assert harness.types() == ["payment-succeeded", "invoice-issued"]
    succeeded = harness.published("payment-succeeded")[0]
    assert succeeded.data["amount"] == 4200 and succeeded.data["currency"] == "eur"
    assert succeeded.correlationid == "ord_1"


def test_declined_card_fails_with_decline_code_and_is_never_retried(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=DECLINE))  # no exception: nothing to retry

    payment = harness.payment("ord_1")
    assert (payment.status, payment.decline_code, payment.retryable) == (
        "failed",
        "card_declined",
        False,
    )
    [failed] = harness.published("payment-failed")
    assert failed.data["decline_code"] == "card_declined"
    assert failed.data["customer_email"] == "ada@example.com"
    assert failed.data["reason"]

    from switchboard_payments.commands import RetryFailedPayments

    harness.bus.send(RetryFailedPayments())
    assert [c for c in provider.calls if c[0] == "charge"] == [("charge", "order-ord_1")]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_provider_outage_raises_a_retryable_failure(
    harness: Harness, provider: FakePaymentProvider, status: int
) -> None:
    provider.outage = ProviderError("provider unavailable", status=status)
    with pytest.raises(ProviderError) as raised:
        harness.order(order_created("ord_1"))
    assert classify(raised.value) is FailureClass.PROVIDER_5XX
    assert harness.types() == []
    assert harness.payment("ord_1").status == "processing"  # outcome unknown, not failed


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (stripe.RateLimitError("slow down", http_status=429), FailureClass.PROVIDER_5XX),
        (stripe.APIConnectionError("timed out"), FailureClass.NETWORK),
        (stripe.APIError("boom", http_status=500), FailureClass.PROVIDER_5XX),
        (
            stripe.InvalidRequestError("bad", param="amount", http_status=400),
            FailureClass.PROVIDER_4XX,
        ),
    ],
)
def test_stripe_errors_are_classified(error: Exception, expected: FailureClass) -> None:
    import switchboard_payments.adapters.stripe  # noqa: F401  (registers the classifier)

    assert classify(error) is expected
    assert (expected in TRANSIENT) == (expected is not FailureClass.PROVIDER_4XX)


def test_retry_after_an_outage_charges_once(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    from payments_harness import envelope

    env = envelope(order_created("ord_1"))
    provider.outage = ProviderError("provider unavailable", status=503)
    with pytest.raises(ProviderError):
        harness.deliver(env)
    provider.outage = None
    harness.deliver(env)  # the kit's retry: the same message again

    assert harness.payment("ord_1").status == "succeeded"
    assert len(provider.charges_for("ord_1")) == 1
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_redelivered_order_created_never_charges_twice(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    env = harness.order(order_created("ord_1"))
    harness.deliver(env)  # the same message
    harness.order(order_created("ord_1"))  # the same order in a new message (payment row)

    assert len(provider.charges_for("ord_1")) == 1
    assert [c[0] for c in provider.calls] == ["charge"]
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_charge_whose_response_was_lost_is_adopted_not_repeated(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    """Stripe charged but we never heard back: the retry looks the intent up by order id."""
    from payments_harness import envelope

    env = envelope(order_created("ord_1"))
    provider.lose_response = True
    with pytest.raises(ProviderError):
        harness.deliver(env)
    assert harness.payment("ord_1").charge_attempts == 1

    harness.deliver(env)

    assert len(provider.charges_for("ord_1")) == 1  # the fake ignores keys, as localstripe does
    assert [c[0] for c in provider.calls] == ["charge", "list"]
    payment = harness.payment("ord_1")
    assert payment.status == "succeeded"
    assert payment.intent_id == provider.charges_for("ord_1")[0].intent_id
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_worker_lost_before_commit_does_not_charge_twice(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    """The charge succeeded and the process died before our transaction committed."""
    from payments_harness import envelope

    class DiesAfterCharging(FakePaymentProvider):
        def charge(self, **kwargs):  # type: ignore[no-untyped-def]
            super().charge(**kwargs)
            raise SystemExit("worker killed")

    dying = DiesAfterCharging(intents=provider.intents)
    harness.service.registry.provide(payments=dying)
    env = envelope(order_created("ord_1"))
    with pytest.raises(SystemExit):
        harness.deliver(env)

    harness.service.registry.provide(payments=provider)
    harness.deliver(env)

    assert len(provider.charges_for("ord_1")) == 1
    assert harness.payment("ord_1").status == "succeeded"
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_a_concurrent_delivery_waits_for_the_charge_in_flight(harness: Harness) -> None:
    """A second delivery that finds another attempt claimed since it looked does not charge."""
    from switchboard_payments.charging import claim_charge

    with harness.service.uow(harness_context()) as uow:
        claim_charge(uow, order_created("ord_1"), 0)
    with harness.service.uow(harness_context()) as uow, pytest.raises(ChargeInFlight):
        claim_charge(uow, order_created("ord_1"), 0)
    assert classify(ChargeInFlight("x")) in TRANSIENT


def harness_context():  # type: ignore[no-untyped-def]
    from switchboard_shared.context import MessageContext

    return MessageContext.new("ord_1")
