"""Beat's schedule comes from OrdersSettings (ORDERS_*) and reaches the Celery app."""

from __future__ import annotations

import pytest
from switchboard_orders.commands import RematchUnmatched, SendPaymentReminders
from switchboard_orders.config import OrdersSettings
from switchboard_orders.handlers import registry
from switchboard_orders.schedule import beat_schedule


def test_defaults_follow_the_seed_schedules() -> None:
    settings = OrdersSettings()
    assert settings.rematch_interval_seconds == 900
    assert settings.reminder_check_seconds == 3600
    assert settings.reminder_after_hours == 24


def test_intervals_are_configurable_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDERS_REMATCH_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("ORDERS_REMINDER_CHECK_SECONDS", "120")
    monkeypatch.setenv("ORDERS_REMINDER_AFTER_HOURS", "2.5")

    schedule = beat_schedule(OrdersSettings())

    rematch = schedule["orders.rematch_unmatched"]
    assert (rematch["task"], rematch["schedule"]) == ("orders.rematch_unmatched", 60)
    assert rematch["options"]["queue"] == "orders.normal"
    reminders = schedule["orders.payment_reminders"]
    assert (reminders["task"], reminders["schedule"]) == ("orders.payment_reminders", 120)
    [payload] = reminders["args"]
    assert SendPaymentReminders.model_validate(payload).older_than_hours == 2.5


def test_the_periodic_commands_have_handlers_on_the_normal_queue() -> None:
    for model in (RematchUnmatched, SendPaymentReminders):
        assert registry.commands[model.task_name][0] is model
        assert model.queue == "orders.normal"


def test_the_app_carries_the_kit_and_the_orders_schedules() -> None:
    from switchboard_orders.app import app

    schedule = app.conf.beat_schedule
    assert {"orders.outbox_sweep", "orders.rematch_unmatched", "orders.payment_reminders"} <= set(
        schedule
    )
    assert {"orders.rematch_unmatched", "orders.payment_reminders"} <= set(app.tasks)
