"""The ops plane's own tables: the task ledger, the workers seen, and alert states."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from switchboard_shared.db import JsonColumn
from switchboard_shared.records import utcnow

from switchboard_gateway.models import Base


class TaskRecord(Base):
    """One task of one service, followed through its Celery task events.

    `id` is the Celery task id; an event delivery (`event.<type>`) runs once in each
    subscribing service under the same task id, so its row is `<task id>@<service>`.
    """

    __tablename__ = "task_ledger"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    service: Mapped[str] = mapped_column(String(50), default="")
    queue: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    state_at: Mapped[float] = mapped_column(Float, default=0.0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    current_step: Mapped[str | None] = mapped_column(String(200), nullable=True)
    result: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    classification: Mapped[str | None] = mapped_column(String(30), nullable=True)
    dead_letter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    runtime: Mapped[float | None] = mapped_column(Float, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_task_ledger_created", "created_at"),
        Index("ix_task_ledger_state_created", "state", "created_at"),
        Index("ix_task_ledger_service_created", "service", "created_at"),
        Index("ix_task_ledger_name_completed", "name", "completed_at"),
        Index("ix_task_ledger_completed", "completed_at"),
        Index("ix_task_ledger_failures", "classification", "name", "completed_at"),
    )


class WorkerRecord(Base):
    """A worker as its heartbeats describe it."""

    __tablename__ = "ledger_workers"

    hostname: Mapped[str] = mapped_column(String(200), primary_key=True)
    service: Mapped[str] = mapped_column(String(50), default="")
    online: Mapped[bool] = mapped_column(default=True)
    last_heartbeat: Mapped[float] = mapped_column(Float, default=0.0)
    active: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    loadavg: Mapped[Any] = mapped_column(JsonColumn, nullable=True)
    software: Mapped[str | None] = mapped_column(String(100), nullable=True)


class AlertRecord(Base):
    """One alert (a rule on one subject): raised while its condition holds, then resolved."""

    __tablename__ = "alerts"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    rule: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), index=True)
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TaskRollup(Base):
    """Finished tasks counted per minute or hour (`span` seconds): see `ledger.rollups`."""

    __tablename__ = "task_rollups"

    span: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    bucket: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    service: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), primary_key=True)
    classification: Mapped[str] = mapped_column(String(30), primary_key=True)
    runtime_bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    retries: Mapped[int] = mapped_column(BigInteger, default=0)
    runtime_sum: Mapped[float] = mapped_column(Float, default=0.0)
