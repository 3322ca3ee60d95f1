"""Beat jobs: reconciliation against the provider and retries of retryable failures."""

from __future__ import annotations

import pytest
from payments_harness import API_KEY, DECLINE, SLOW, TRANSIENT_DECLINE, Harness, order_created
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_payments.commands import ReconcilePayments, RetryFailedPayments
from switchboard_payments.config import PaymentsSettings
from switchboard_shared.failures import ProviderError


def test_reconcile_fixes_a_payment_stuck_in_processing(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=SLOW))
    provider.set_status(provider.charges_for("ord_1")[0].intent_id, "succeeded")

    result = harness.bus.send(ReconcilePayments())

    assert result == {"intents": 1, "fixed": 1, "mismatches": 0}
    assert harness.payment().status == "succeeded"
    assert harness.types() == ["payment-succeeded", "invoice-issued"]


def test_reconcile_reports_what_it_cannot_fix_once(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1"))
    provider.set_status(provider.charges_for("ord_1")[0].intent_id, "requires_payment_method")

    harness.bus.send(ReconcilePayments())
    harness.bus.send(ReconcilePayments())  # an hour later: not reported again

    [mismatch] = harness.published("payment-reconciliation-mismatch")
    assert mismatch.data == {
        "payment_id": "pay_ord_1",
        "order_id": "ord_1",
        "local_status": "succeeded",
        "provider_status": "requires_payment_method",
    }
    assert harness.payment().status == "succeeded"  # never moved backwards


def test_reconcile_adopts_the_intent_of_an_unanswered_charge(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    provider.lose_response = True
    with pytest.raises(ProviderError):
        harness.order(order_created("ord_1"))
    harness.bus.send(ReconcilePayments())
    assert harness.payment().status == "succeeded"
    assert len(provider.charges_for("ord_1")) == 1


def test_retry_job_charges_a_retryable_failure_again_with_a_new_key(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=TRANSIENT_DECLINE))
    harness.order(order_created("ord_2", method=DECLINE))
    assert harness.payment("ord_1").retryable and not harness.payment("ord_2").retryable

    provider.decline.pop(TRANSIENT_DECLINE)  # the processor recovered
    result = harness.bus.send(RetryFailedPayments())

    assert result == {"charged": 1}
    charges = [c for c in provider.calls if c[0] == "charge"]
    assert charges == [
        ("charge", "order-ord_1"),
        ("charge", "order-ord_2"),
        ("charge", "order-ord_1-retry-1"),
    ]
    assert harness.payment("ord_1").status == "succeeded"
    assert harness.payment("ord_2").status == "failed"
    assert harness.types().count("payment-succeeded") == 1


def test_retry_job_gives_up_after_max_retries(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=TRANSIENT_DECLINE))
    for _ in range(5):
        harness.bus.send(RetryFailedPayments())
    assert harness.payment().retries == PaymentsSettings(stripe_api_key=API_KEY).max_charge_retries
    assert harness.types().count("payment-failed") == 1  # failed once, not per retry


def test_retry_job_settles_a_charge_left_unanswered(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    """The message's own retries ran out during an outage; the job charges when it is over."""
    provider.outage = ProviderError("down", status=503)
    with pytest.raises(ProviderError):
        harness.order(order_created("ord_1"))
    assert harness.bus.send(RetryFailedPayments()) == {"errors": 1}  # still down

    provider.outage = None
    assert harness.bus.send(RetryFailedPayments()) == {"charged": 1}
    assert harness.payment().status == "succeeded"
    assert len(provider.charges_for("ord_1")) == 1


def test_beat_schedule_sends_both_jobs_to_the_batch_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYMENTS_STRIPE_API_KEY", API_KEY)  # the app module reads its settings
    from switchboard_payments.app import beat_schedule

    schedule = beat_schedule(
        PaymentsSettings(
            stripe_api_key=API_KEY, reconcile_interval_seconds=60, retry_failed_interval_seconds=30
        )
    )
    assert schedule["payments.reconcile"]["task"] == ReconcilePayments.task_name
    assert schedule["payments.reconcile"]["schedule"] == 60
    assert schedule["payments.retry_failed"]["schedule"] == 30
    assert {e["options"]["queue"] for e in schedule.values()} == {"payments.batch"}
    defaults = PaymentsSettings(stripe_api_key=API_KEY)
    assert defaults.reconcile_interval_seconds == 3600
    assert defaults.retry_failed_interval_seconds == 1800
