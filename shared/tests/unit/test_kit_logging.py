"""The kit's JSON logs: Celery's task lines keep their context but never the task payloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from switchboard_shared.logging import configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """configure_logging replaces the root handler with one bound to the captured stderr."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_task_lines_keep_id_name_and_runtime_but_not_arguments_or_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("orders", "INFO", json=True)
    envelope = {"data": {"customer_email": "ada@example.com", "customer_phone": "+15555550100"}}
    context = {
        "id": "task-1",
        "name": "event.order-created",
        "runtime": 0.004,
        "args": repr([envelope]),
        "kwargs": "{}",
        "return_value": repr({"customer_email": "ada@example.com"}),
    }
    logging.getLogger("celery.app.trace").info(
        "Task %(name)s[%(id)s] succeeded", context, extra={"data": context}
    )

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["data"] == {"id": "task-1", "name": "event.order-created", "runtime": 0.004}
    assert line["service"] == "orders"
    assert "ada@example.com" not in json.dumps(line)
    assert "+15555550100" not in json.dumps(line)


def test_other_extra_data_is_logged_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("orders", "INFO", json=True)
    logging.getLogger("switchboard.orders").info("matched", extra={"data": {"order_id": "o1"}})

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["data"] == {"order_id": "o1"}


@pytest.mark.parametrize(("level", "receipts_logged"), [("INFO", False), ("DEBUG", True)])
def test_celerys_per_task_received_line_is_left_out_unless_debugging(
    capsys: pytest.CaptureFixture[str], level: str, receipts_logged: bool
) -> None:
    strategy = logging.getLogger("celery.worker.strategy")
    before = strategy.level
    try:
        configure_logging("orders", level, json=True)
        strategy.info("Task %s[%s] received", "orders.create", "task-1")
        logging.getLogger("celery.app.trace").info("Task orders.create[task-1] succeeded")

        lines = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
        assert ("Task orders.create[task-1] received" in lines) is receipts_logged
        assert "Task orders.create[task-1] succeeded" in lines
    finally:
        strategy.setLevel(before)
