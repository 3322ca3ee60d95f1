"""Folding Celery task events into ledger rows: pure functions on plain dicts, no I/O."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from typing import Any

STATE_BY_EVENT = {
    "task-sent": "pending",
    "task-received": "received",
    "task-started": "running",
    "task-progress": "running",
    "task-retried": "retrying",
    "task-succeeded": "succeeded",
    "task-failed": "failed",
    "task-revoked": "revoked",
    "task-dead-lettered": "dead_lettered",
}
TASK_EVENTS = frozenset(STATE_BY_EVENT)
TERMINAL = frozenset({"succeeded", "failed", "revoked", "dead_lettered"})
STATES = ("pending", "received", "running", "retrying", *sorted(TERMINAL))
EVENT_TASK_PREFIX = "event."
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*)\((.*)\)$", re.DOTALL)


def when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def service_of_host(hostname: str | None, services: frozenset[str]) -> str | None:
    """Kit workers are named `<service>@host` or `<service>-<suffix>@host` (`switchboard_`
    may prefix the service, as in the test harness's `switchboard_orders-1a2b3c@host`)."""
    if not hostname:
        return None
    node = hostname.split("@", 1)[0].removeprefix("switchboard_")
    for candidate in (node, node.split("-", 1)[0]):
        if candidate in services:
            return candidate
    return None


def service_of_task(name: str, hostname: str | None, services: frozenset[str]) -> str:
    if name and not name.startswith(EVENT_TASK_PREFIX) and "." in name:
        return name.split(".", 1)[0]
    return service_of_host(hostname, services) or "unknown"


def row_key(task_id: str, name: str, service: str) -> str:
    """An event delivery runs once per subscriber under one task id: one row each."""
    return f"{task_id}@{service}" if name.startswith(EVENT_TASK_PREFIX) else task_id


def parse_exception(text: str | None) -> tuple[str | None, str | None]:
    """`ValueError('bad amount')` → (`ValueError`, `bad amount`)."""
    if not text:
        return None, None
    match = _EXCEPTION.match(text.strip())
    if not match:
        return None, text
    kind, inner = match.groups()
    try:
        value = ast.literal_eval(inner) if inner else ""
    except (ValueError, SyntaxError):
        value = inner
    return kind.rsplit(".", 1)[-1], str(value)


def parse_result(text: Any) -> Any:
    """Celery sends `repr(result)`; give back JSON where the repr is a Python literal."""
    if not isinstance(text, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text
    return json.loads(json.dumps(value, default=str))


def new_row(key: str, task_id: str, name: str, service: str, timestamp: float) -> dict[str, Any]:
    return {
        "id": key,
        "task_id": task_id,
        "name": name,
        "service": service,
        "queue": None,
        "state": "pending",
        "state_at": 0.0,
        "progress": 0.0,
        "current_step": None,
        "result": None,
        "error_type": None,
        "error_message": None,
        "classification": None,
        "dead_letter_id": None,
        "retries": 0,
        "runtime": None,
        "worker": None,
        "created_at": when(timestamp),
        "started_at": None,
        "completed_at": None,
    }


def _move(row: dict[str, Any], state: str, timestamp: float) -> bool:
    """Whether `state` (seen at `timestamp`) becomes the row's state."""
    current = row["state"]
    if current in TERMINAL and state not in TERMINAL:
        return False
    if current == "dead_lettered" and state == "failed":
        return False  # the kit dead-letters first, then Celery reports the failure
    if state == "pending" and current != "pending":
        return False  # a retry re-sends the message under the same id
    return timestamp >= row["state_at"] or (state in TERMINAL and current not in TERMINAL)


def apply_event(row: dict[str, Any], event: dict[str, Any]) -> None:
    kind = event["type"]
    timestamp = float(event.get("timestamp") or 0.0)
    state = STATE_BY_EVENT[kind]
    if _move(row, state, timestamp):
        row["state"], row["state_at"] = state, timestamp
    if kind != "task-sent" and event.get("hostname"):
        row["worker"] = event["hostname"]
    _FIELDS[kind](row, event, timestamp)


def _sent(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["queue"] = event.get("queue") or event.get("routing_key") or row["queue"]
    row["created_at"] = min(row["created_at"], when(timestamp))


def _received(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["retries"] = max(row["retries"], int(event.get("retries") or 0))


def _started(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["started_at"] = when(timestamp)


def _progress(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    if row["state"] not in TERMINAL:
        row["progress"] = max(row["progress"], float(event.get("progress") or 0.0))
        row["current_step"] = str(event.get("current_step") or "")[:200] or None


def _retried(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["retries"] += 1
    row["error_type"], row["error_message"] = parse_exception(event.get("exception"))


def _succeeded(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["result"] = parse_result(event.get("result"))
    # The reconciler's event (from the result backend) has no runtime: it must not erase the
    # one a worker's own task-succeeded brought, whichever of the two is folded last.
    if event.get("runtime") is not None:
        row["runtime"] = event["runtime"]
    row["progress"] = 100.0
    row["error_type"] = row["error_message"] = None
    _finished(row, timestamp)


def _finished(row: dict[str, Any], timestamp: float) -> None:
    row["completed_at"] = when(timestamp)
    if row["started_at"] is not None and row["runtime"] is None:
        row["runtime"] = max(0.0, timestamp - row["started_at"].timestamp())


def _failed(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    if row["dead_letter_id"] is None:
        row["error_type"], row["error_message"] = parse_exception(event.get("exception"))
        row["classification"] = row["classification"] or "unknown"
    _finished(row, timestamp)


def _revoked(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    _finished(row, timestamp)


def _dead_lettered(row: dict[str, Any], event: dict[str, Any], timestamp: float) -> None:
    row["classification"] = event.get("classification") or "unknown"
    row["dead_letter_id"] = event.get("dead_letter_id")
    row["error_type"] = event.get("exception_type") or row["error_type"]
    row["error_message"] = event.get("message") or event.get("reason")
    _finished(row, timestamp)


_FIELDS = {
    "task-sent": _sent,
    "task-received": _received,
    "task-started": _started,
    "task-progress": _progress,
    "task-retried": _retried,
    "task-succeeded": _succeeded,
    "task-failed": _failed,
    "task-revoked": _revoked,
    "task-dead-lettered": _dead_lettered,
}
