"""Delays the Redis broker cannot keep, progress reporting, and structured logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import structlog
from celery import Celery
from structlog.contextvars import clear_contextvars
from switchboard_shared import progress
from switchboard_shared.logging import bind_task, configure_logging
from switchboard_shared.scheduling import ScheduleTooFar, delay_seconds, guard_delay
from switchboard_shared.tasks import KitTask


def conf(broker: str, visibility_timeout: float | None = 3600) -> SimpleNamespace:
    options = {} if visibility_timeout is None else {"visibility_timeout": visibility_timeout}
    return SimpleNamespace(broker_url=broker, broker_transport_options=options)


# --- scheduling ------------------------------------------------------------------------


def test_countdown_beyond_visibility_timeout_on_redis_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ScheduleTooFar) as info:
        guard_delay(conf("redis://127.0.0.1:6379/0"), countdown=7200)
    message = str(info.value)
    assert "7200s" in message
    assert "visibility_timeout (3600s)" in message
    assert "run twice" in message
    assert "beat" in message


def test_countdown_reaching_exactly_the_visibility_timeout_is_refused() -> None:
    with pytest.raises(ScheduleTooFar):
        guard_delay(conf("redis://h/0"), countdown=3600)


def test_countdown_inside_the_visibility_timeout_is_allowed() -> None:
    guard_delay(conf("redis://h/0"), countdown=3599)
    guard_delay(conf("redis://h/0"))


@pytest.mark.parametrize("eta", ["datetime", "aware-iso", "naive-iso"])
def test_eta_beyond_visibility_timeout_on_redis_is_refused(eta: str) -> None:
    when = datetime.now(UTC) + timedelta(hours=3)
    value: Any = {
        "datetime": when,
        "aware-iso": when.isoformat(),
        "naive-iso": when.replace(tzinfo=None).isoformat(),
    }[eta]
    with pytest.raises(ScheduleTooFar):
        guard_delay(conf("redis://h/0", 7200), eta=value)


def test_near_eta_is_allowed() -> None:
    guard_delay(conf("redis://h/0"), eta=datetime.now(UTC) + timedelta(minutes=5))


@pytest.mark.parametrize("broker", ["rediss://h:6380/0", "redis+socket:///tmp/redis.sock"])
def test_every_redis_url_form_is_guarded(broker: str) -> None:
    with pytest.raises(ScheduleTooFar):
        guard_delay(conf(broker), countdown=10_000)


def test_default_visibility_timeout_is_one_hour() -> None:
    with pytest.raises(ScheduleTooFar, match=r"\(3600s\)"):
        guard_delay(conf("redis://h/0", visibility_timeout=None), countdown=4000)


@pytest.mark.parametrize("broker", ["amqp://guest:guest@h:5672//", "pyamqp://h//"])
def test_amqp_broker_is_not_limited(broker: str) -> None:
    guard_delay(conf(broker), countdown=30 * 24 * 3600)
    guard_delay(conf(broker), eta=datetime.now(UTC) + timedelta(days=30))


def test_countdown_wins_over_eta() -> None:
    assert delay_seconds(5, datetime.now(UTC) + timedelta(days=1)) == 5
    assert delay_seconds(None, None) == 0


def test_kit_tasks_refuse_a_far_countdown_before_anything_is_sent() -> None:
    app = Celery("kit-test", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.broker_transport_options = {"visibility_timeout": 600}

    @app.task(name="kit.test.later", base=KitTask, bind=True)
    def later(self: KitTask) -> None:  # pragma: no cover - never runs
        pass

    with pytest.raises(ScheduleTooFar, match=r"visibility_timeout \(600s\)"):
        later.apply_async(countdown=601)


# --- progress --------------------------------------------------------------------------


def test_progress_outside_a_task_is_a_no_op() -> None:
    progress.report(50, "halfway")  # no sink: nothing to raise


def test_progress_reaches_the_sink_clamped_and_rounded() -> None:
    seen: list[tuple[float, str]] = []
    with progress.reporting_to(lambda percent, step: seen.append((percent, step))):
        progress.report(0, "start")
        progress.report(33.333, "rows")
        progress.report(140, "overshoot")
        progress.report(-3, "undershoot")
    progress.report(100, "after the task")
    assert seen == [(0.0, "start"), (33.3, "rows"), (100.0, "overshoot"), (0.0, "undershoot")]


def test_nested_reporting_restores_the_outer_sink() -> None:
    outer: list[str] = []
    inner: list[str] = []
    with progress.reporting_to(lambda p, s: outer.append(s)):
        with progress.reporting_to(lambda p, s: inner.append(s)):
            progress.report(10, "inner")
        progress.report(20, "outer")
    assert inner == ["inner"]
    assert outer == ["outer"]


def test_celery_sink_sets_task_state_and_sends_a_progress_event() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    task = SimpleNamespace(
        update_state=lambda state, meta: calls.append((state, meta)),
        send_event=lambda kind, **fields: calls.append((kind, fields)),
    )
    with progress.reporting_to(progress.celery_sink(task)):
        progress.report(42.04, "rendering")
    meta = {"progress": 42.0, "current_step": "rendering"}
    assert calls == [("PROGRESS", meta), ("task-progress", meta)]


# --- logging ---------------------------------------------------------------------------


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    configure_logging("orders", "INFO", json=True)
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
        clear_contextvars()


def test_logs_are_json_with_service_task_and_correlation_id(json_log: io.StringIO) -> None:
    bind_task("orders", "task-123", "orders.create", "ord_77")
    logging.getLogger("switchboard.test").info("order created", extra={"order_id": "ord_77"})
    record = json.loads(json_log.getvalue().strip().splitlines()[-1])
    assert record["event"] == "order created"
    assert record["service"] == "orders"
    assert record["task_id"] == "task-123"
    assert record["task"] == "orders.create"
    assert record["correlation_id"] == "ord_77"
    assert record["order_id"] == "ord_77"
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")


def test_binding_a_new_task_forgets_the_previous_one(json_log: io.StringIO) -> None:
    bind_task("orders", "task-1", "orders.create", "ord_1")
    bind_task("orders", "task-2", "orders.create", None)
    logging.getLogger("switchboard.test").warning("next")
    record = json.loads(json_log.getvalue().strip().splitlines()[-1])
    assert record["task_id"] == "task-2"
    assert record["correlation_id"] is None
