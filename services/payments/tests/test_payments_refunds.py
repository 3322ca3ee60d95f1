"""Refunds: a cancelled paid order is refunded once; the `payments.refund` command shares the code."""

from __future__ import annotations

import pytest
from payments_harness import DECLINE, Harness, order_created
from switchboard_payments.adapters.fake import FakePaymentProvider
from switchboard_shared.contracts.payments import RefundPayment
from switchboard_shared.failures import ValidationFailure


def refund_calls(provider: FakePaymentProvider) -> list[tuple[str, str]]:
    return [c for c in provider.calls if c[0] == "refund"]


def test_cancelled_paid_order_is_refunded_once(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1"))
    harness.cancel("ord_1")
    harness.cancel("ord_1")  # a second cancellation event: no second refund

    payment = harness.payment()
    assert payment.status == "refunded" and payment.refund_id
    assert refund_calls(provider) == [("refund", "refund-ord_1")]
    [refunded] = harness.published("payment-refunded")
    assert refunded.data == {
        "payment_id": "pay_ord_1",
        "order_id": "ord_1",
        "amount": 2500,
        "currency": "eur",
    }


def test_cancelled_unpaid_order_is_not_refunded(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1", method=DECLINE))
    harness.cancel("ord_1", was_paid=False)
    assert refund_calls(provider) == []
    assert harness.payment().status == "failed"


def test_refund_command_refunds_and_repeats_harmlessly(
    harness: Harness, provider: FakePaymentProvider
) -> None:
    harness.order(order_created("ord_1"))
    first = harness.bus.send(RefundPayment(order_id="ord_1"))
    second = harness.bus.send(RefundPayment(order_id="ord_1"))

    assert first == second == {"payment_id": "pay_ord_1", "status": "refunded"}
    assert refund_calls(provider) == [("refund", "refund-ord_1")]
    assert harness.types().count("payment-refunded") == 1


def test_refund_command_refuses_an_unpaid_payment(harness: Harness) -> None:
    harness.order(order_created("ord_1", method=DECLINE))
    with pytest.raises(ValidationFailure):
        harness.bus.send(RefundPayment(order_id="ord_1"))
    with pytest.raises(ValidationFailure):
        harness.bus.send(RefundPayment(order_id="ord_missing"))
