"""Payments' own periodic commands (sent by its beat; no other service asks for them)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from switchboard_shared.contracts.base import Command


class ReconcilePayments(Command):
    task_name: ClassVar[str] = "payments.reconcile"
    queue: ClassVar[str] = "payments.batch"

    lookback_hours: int | None = Field(default=None, ge=1, le=24 * 90)


class RetryFailedPayments(Command):
    task_name: ClassVar[str] = "payments.retry_failed"
    queue: ClassVar[str] = "payments.batch"
