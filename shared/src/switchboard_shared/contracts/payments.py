"""Payments' published language."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .base import Command, Event
from .sensitivity import personal

PRODUCER = "payments"


class RefundPayment(Command):
    task_name: ClassVar[str] = "payments.refund"
    queue: ClassVar[str] = "payments.critical"

    order_id: str = Field(min_length=1)
    reason: str = Field(default="requested_by_customer", max_length=200)


class PaymentReconciliationMismatch(Event):
    type: ClassVar[str] = "payment-reconciliation-mismatch"
    producer: ClassVar[str] = PRODUCER

    payment_id: str
    order_id: str
    local_status: str
    provider_status: str


class PaymentSucceeded(Event):
    type: ClassVar[str] = "payment-succeeded"
    producer: ClassVar[str] = PRODUCER

    payment_id: str
    order_id: str
    amount: int
    currency: str


class PaymentFailed(Event):
    type: ClassVar[str] = "payment-failed"
    producer: ClassVar[str] = PRODUCER

    payment_id: str
    order_id: str
    reason: str
    decline_code: str | None = None
    customer_email: str | None = personal(None)


class PaymentRefunded(Event):
    type: ClassVar[str] = "payment-refunded"
    producer: ClassVar[str] = PRODUCER

    payment_id: str
    order_id: str
    amount: int
    currency: str


class InvoiceIssued(Event):
    type: ClassVar[str] = "invoice-issued"
    producer: ClassVar[str] = PRODUCER

    invoice_number: str
    order_id: str
    amount: int
    currency: str
