"""Payments: one per order, moving only forward."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.db import NAMING_CONVENTION
from switchboard_shared.records import utcnow

# A payment never moves backwards: a late or repeated provider event is ignored.
RANK = {"pending": 0, "failed": 1, "succeeded": 2, "refunded": 3}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    amount: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(128))
    customer_email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def advance(self, status: str) -> bool:
        """Move forward to `status`; False (and no change) when that would be backwards."""
        if RANK[status] <= RANK[self.status]:
            return False
        self.status = status
        self.updated_at = utcnow()
        return True
