"""Orders' beat schedule, built from its settings."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts.base import Command

from .commands import RematchUnmatched, SendPaymentReminders
from .config import OrdersSettings


def _entry(command: Command, every: float) -> dict[str, Any]:
    """A beat entry sending `command` as its task's one payload argument."""
    return {
        "task": command.task_name,
        "schedule": every,
        "args": [command.model_dump(mode="json")],
        # A run older than its interval is stale: the next one does the same work.
        "options": {"queue": command.queue, "expires": every},
    }


def beat_schedule(settings: OrdersSettings) -> dict[str, dict[str, Any]]:
    return {
        RematchUnmatched.task_name: _entry(
            RematchUnmatched(limit=settings.rematch_batch_size),
            settings.rematch_interval_seconds,
        ),
        SendPaymentReminders.task_name: _entry(
            SendPaymentReminders(older_than_hours=settings.reminder_after_hours),
            settings.reminder_check_seconds,
        ),
    }
