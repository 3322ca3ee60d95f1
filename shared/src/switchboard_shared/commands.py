"""Sending commands: a validated contract model becomes a Celery task message, by name."""

from __future__ import annotations

import uuid
from typing import Any

from amqp.exceptions import AMQPError, MessageNacked
from celery import Celery
from kombu.exceptions import ConnectionError as KombuConnectionError
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from .argsrepr import celery_argsrepr
from .contracts import Command

CORRELATION_HEADER = "sb_correlation_id"
# What a publish raises when the broker did not take the message: unreachable, refused it
# (a nack, a closed channel or connection), or gave no confirm in time.
PUBLISH_FAILURES: tuple[type[BaseException], ...] = (
    OperationalError,
    KombuConnectionError,
    AMQPError,
    MessageNacked,
    RedisError,
    OSError,
)


def is_amqp(broker_url: str) -> bool:
    return broker_url.startswith(("amqp://", "amqps://", "pyamqp://"))


def confirmed_publishing(broker_url: str) -> dict[str, Any]:
    """Broker transport options under which a publish returns only once the broker has the
    message: publisher confirms on RabbitMQ (a refusal or a lost connection raises). On Redis
    the LPUSH's own reply already says so."""
    return {"confirm_publish": True} if is_amqp(broker_url) else {}


def send_command(
    app: Celery,
    command: Command,
    *,
    correlation_id: str | None = None,
    task_id: str | None = None,
    queue: str | None = None,
    confirm_timeout: float | None = None,
) -> str:
    """Send `command` to its service's queue; returns the task id. Never imports service code.

    With `confirmed_publishing`, `confirm_timeout` bounds the wait for RabbitMQ's confirm."""
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
        confirm_timeout=confirm_timeout,
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
