"""Sending commands from a route: broker and service failures become HTTP answers."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from switchboard_shared.contracts import Command

from switchboard_gateway.sender import (
    BrokerUnavailable,
    CommandFailed,
    CommandSender,
    CommandTimeout,
)


def call_service(sender: CommandSender, command: Command, correlation_id: str) -> Any:
    """Send a command or query and wait for its answer: 503 / 504 / 422 when it has none."""
    service = command.task_name.split(".", 1)[0]
    try:
        return sender.call(command, correlation_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    except CommandTimeout as exc:
        raise HTTPException(504, detail=str(exc)) from exc
    except CommandFailed as exc:
        raise HTTPException(422, detail=f"The {service} service refused it: {exc}") from exc


def send_or_503(
    sender: CommandSender, command: Command, correlation_id: str, task_id: str | None = None
) -> str:
    try:
        return sender.send(command, correlation_id, task_id=task_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
