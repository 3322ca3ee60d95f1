"""Orders' own periodic commands, sent by beat (not part of the shared published language)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from switchboard_shared.contracts.base import Command


class RematchUnmatched(Command):
    """Retry matching of unmatched orders: capacity may have freed since."""

    task_name: ClassVar[str] = "orders.rematch_unmatched"
    queue: ClassVar[str] = "orders.normal"

    limit: int = Field(default=500, ge=1, le=10_000)


class SendPaymentReminders(Command):
    """Remind customers of orders still unpaid after `older_than_hours`, once per order."""

    task_name: ClassVar[str] = "orders.payment_reminders"
    queue: ClassVar[str] = "orders.normal"

    older_than_hours: float = Field(default=24.0, gt=0)
    limit: int = Field(default=500, ge=1, le=10_000)
