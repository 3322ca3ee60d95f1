"""Orders and the rules of their life cycle."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.contracts.orders import OrderStatus
from switchboard_shared.db import NAMING_CONVENTION
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


class IllegalTransition(ValueError):
    pass


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(30), default="pending_payment")
    customer_email: Mapped[str] = mapped_column(String(320))
    customer_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    category: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    supplier_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def move_to(self, status: OrderStatus) -> None:
        """Apply a legal transition; an illegal one is refused and never applied."""
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"order {self.id}: {self.status} → {status} is not allowed")
        self.status = status
        self.updated_at = utcnow()
