"""Sending commands: a validated contract model becomes a Celery task message, by name."""

from __future__ import annotations

import uuid
from typing import Any

from celery import Celery

from .argsrepr import celery_argsrepr
from .contracts import Command

CORRELATION_HEADER = "sb_correlation_id"


def send_command(
    app: Celery,
    command: Command,
    *,
    correlation_id: str | None = None,
    task_id: str | None = None,
    queue: str | None = None,
) -> str:
    """Send `command` to its service's queue; returns the task id. Never imports service code."""
    task_id = task_id or str(uuid.uuid4())
    payload = command.model_dump(mode="json")
    shown = {k: ("***" if k in command.redacted else v) for k, v in payload.items()}
    argsrepr = celery_argsrepr([shown], app)
    if argsrepr is None and command.redacted:  # never left to Celery: it would show the secret
        argsrepr = repr([shown])
    app.send_task(
        command.task_name,
        args=[payload],
        task_id=task_id,
        queue=queue or command.destination(),
        headers={CORRELATION_HEADER: correlation_id or task_id},
        argsrepr=argsrepr,
    )
    return task_id


def beat_entry(command: type[Command], every: float) -> dict[str, Any]:
    """A beat schedule entry sending `command` (with its defaults) every `every` seconds; a
    run not started within one period expires rather than piling up behind a busy worker."""
    return {
        "task": command.task_name,
        "schedule": every,
        "args": [{}],
        "options": {"queue": command.queue, "expires": every},
    }
