"""The kit's own tables, kept in each service's database beside its domain tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import JsonColumn, KitBase


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored in UTC); make them aware again."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OutboxMessage(KitBase):
    """An event written in the same transaction as the state change it announces."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    routing_key: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_outbox_pending", "published_at", "created_at"),)


class InboxRecord(KitBase):
    """`(message id, handler)` recorded in the handler's own transaction: a duplicate is a no-op."""

    __tablename__ = "inbox"

    message_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    result: Mapped[Any] = mapped_column(JsonColumn, nullable=True)


class DeadLetter(KitBase):
    """A message that will not be retried: the whole original message and why."""

    __tablename__ = "dead_letters"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(50))
    task_name: Mapped[str] = mapped_column(String(200))
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    queue: Mapped[str] = mapped_column(String(100))
    message: Mapped[dict[str, Any]] = mapped_column(JsonColumn)
    reason: Mapped[str] = mapped_column(Text)
    classification: Mapped[str] = mapped_column(String(30))
    exception_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DeliveryCount(KitBase):
    """Deliveries of a redelivered message, to bound poison messages (celery#1628)."""

    __tablename__ = "delivery_counts"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
