"""Payments (one per order, moving only forward) and their invoices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, MetaData, String, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from switchboard_shared.db import NAMING_CONVENTION
from switchboard_shared.records import utcnow

# A payment never moves backwards: a late or repeated provider event is ignored.
# `processing` = Stripe has (or may have) the charge and has not answered for good yet.
RANK = {"pending": 0, "processing": 1, "failed": 2, "succeeded": 3, "refunded": 4}

# Decline codes that say "try again later" rather than "this card will not pay".
RETRYABLE_DECLINES = frozenset(
    {"processing_error", "try_again_later", "issuer_not_available", "reenter_transaction"}
)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payment_method: Mapped[str] = mapped_column(String(128))
    customer_email: Mapped[str] = mapped_column(String(320))
    intent_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    # Charge calls started (committed before each call). Attempts with no intent id recorded
    # mean an earlier call's outcome is unknown: look the intent up before charging again.
    charge_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Retries of a retryable failure, each with its own idempotency key.
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failure_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    decline_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Failed for a reason other than the card (a provider or processing error): retried later.
    retryable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    refund_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # The last provider status reported as a reconciliation mismatch (reported once, not hourly).
    mismatch: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def advance(self, status: str) -> bool:
        """Move forward to `status`; False (and no change) when that would be backwards."""
        if RANK[status] <= RANK[self.status]:
            return False
        self.status = status
        self.updated_at = utcnow()
        return True

    @property
    def idempotency_key(self) -> str:
        """`order-<id>` for the first charge, `order-<id>-retry-<n>` for the n-th retry."""
        base = f"order-{self.order_id}"
        return f"{base}-retry-{self.retries}" if self.retries else base


class Invoice(Base):
    __tablename__ = "invoices"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InvoiceCounter(Base):
    """The last invoice number of a year; bumped by an UPDATE in the issuing transaction."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)
