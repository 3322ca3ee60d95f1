"""Orders' published language."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from .base import Command, Event
from .sensitivity import personal

PRODUCER = "orders"
E164 = r"^\+[1-9]\d{6,14}$"
# Money is in minor units. An order's total has at most twelve digits (the widest amount
# Stripe takes, in any currency): far inside a 64-bit column and JSON's exact integers (2^53).
MAX_UNIT_AMOUNT = 10**10
MAX_ORDER_AMOUNT = 999_999_999_999


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: EmailStr = personal()
    phone: str | None = personal(None, pattern=E164)


class OrderItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=100_000)
    unit_amount: int = Field(ge=0, le=MAX_UNIT_AMOUNT, description="minor units")


def order_total(items: list[OrderItem]) -> int:
    return sum(item.quantity * item.unit_amount for item in items)


def total_within_limit(items: list[OrderItem]) -> list[OrderItem]:
    """A field validator for an order's `items`: the error names `items`."""
    if order_total(items) > MAX_ORDER_AMOUNT:
        raise ValueError(f"the order total must be at most {MAX_ORDER_AMOUNT} minor units")
    return items


class CreateOrder(Command):
    task_name: ClassVar[str] = "orders.create"
    queue: ClassVar[str] = "orders.critical"

    order_id: str = Field(min_length=1, max_length=64)
    customer: Customer
    category: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    items: list[OrderItem] = Field(min_length=1, max_length=500)
    currency: str = Field(pattern=r"^[a-z]{3}$")
    payment_method: str = Field(default="pm_card_visa", min_length=1, max_length=128)

    _total = field_validator("items")(total_within_limit)


class OrderCreated(Event):
    type: ClassVar[str] = "order-created"
    producer: ClassVar[str] = PRODUCER

    order_id: str
    customer_email: str = personal()
    customer_phone: str | None = None
    category: str
    region: str
    quantity: int
    amount: int
    currency: str
    payment_method: str


class OrderMatched(Event):
    type: ClassVar[str] = "order-matched"
    producer: ClassVar[str] = PRODUCER

    order_id: str
    supplier_id: str
    customer_email: str = personal()
    amount: int
    currency: str


class OrderUnmatched(Event):
    type: ClassVar[str] = "order-unmatched"
    producer: ClassVar[str] = PRODUCER

    order_id: str
    reason: str


class OrderCancelled(Event):
    type: ClassVar[str] = "order-cancelled"
    producer: ClassVar[str] = PRODUCER

    order_id: str
    was_paid: bool


class OrderPaymentReminder(Event):
    type: ClassVar[str] = "order-payment-reminder"
    producer: ClassVar[str] = PRODUCER

    order_id: str
    customer_email: str = personal()
    amount: int
    currency: str


class CancelOrder(Command):
    task_name: ClassVar[str] = "orders.cancel"
    queue: ClassVar[str] = "orders.critical"

    order_id: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="requested_by_customer", max_length=200)


class CreateSupplier(Command):
    task_name: ClassVar[str] = "orders.create_supplier"
    queue: ClassVar[str] = "orders.normal"

    supplier_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    categories: list[str] = Field(min_length=1, max_length=50)
    region: str = Field(min_length=1, max_length=64)
    capacity: int = Field(gt=0, le=1_000_000)
    rating: float = Field(default=4.0, ge=0, le=5)


class ListSuppliers(Command):
    task_name: ClassVar[str] = "orders.list_suppliers"
    queue: ClassVar[str] = "orders.normal"

    category: str | None = None
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class SupplierRegistered(Event):
    type: ClassVar[str] = "supplier-registered"
    producer: ClassVar[str] = PRODUCER

    supplier_id: str
    name: str
    categories: list[str]
    region: str
    capacity: int


OrderStatus = Literal[
    "pending_payment", "paid", "matched", "unmatched", "payment_failed", "cancelled", "refunded"
]
