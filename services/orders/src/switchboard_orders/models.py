"""Orders, suppliers and the rules of an order's life cycle."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.contracts.orders import OrderStatus
from switchboard_shared.db import NAMING_CONVENTION, JsonColumn
from switchboard_shared.records import utcnow

TRANSITIONS: dict[str, set[str]] = {
    "pending_payment": {"paid", "payment_failed", "cancelled"},
    "paid": {"matched", "unmatched", "cancelled", "refunded"},
    "unmatched": {"matched", "cancelled", "refunded"},
    "matched": {"cancelled", "refunded"},
    "payment_failed": {"paid", "cancelled"},
    "cancelled": {"refunded"},
    "refunded": set(),
}
# States an order can only have reached through a successful payment.
PAID_STATES = frozenset({"paid", "matched", "unmatched"})


class IllegalTransition(ValueError):
    pass


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_status_created_at", "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), default="pending_payment")
    customer_email: Mapped[str] = mapped_column(String(320))
    customer_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    category: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    supplier_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def move_to(self, status: OrderStatus) -> None:
        """Apply a legal transition; an illegal one is refused and never applied."""
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.id}: {self.status} → {status} is not allowed")
        self.status = status
        self.updated_at = utcnow()

    @property
    def was_paid(self) -> bool:
        """A payment succeeded for it (a cancelled order keeps its payment id)."""
        return self.status in PAID_STATES or self.payment_id is not None


class Supplier(Base):
    __tablename__ = "suppliers"
    __table_args__ = (
        CheckConstraint("reserved >= 0 AND reserved <= capacity", name="reserved_within_capacity"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    categories: Mapped[list[str]] = mapped_column(JsonColumn)
    region: Mapped[str] = mapped_column(String(64))
    capacity: Mapped[int] = mapped_column(Integer)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[float] = mapped_column(Float, default=4.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "supplier_id": self.id,
            "name": self.name,
            "categories": list(self.categories),
            "region": self.region,
            "capacity": self.capacity,
            "reserved": self.reserved,
            "free": self.capacity - self.reserved,
            "rating": self.rating,
            "created_at": as_utc(self.created_at).isoformat(),
        }
