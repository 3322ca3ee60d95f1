"""Sending commands to services: a small port, and its Celery implementation."""

from __future__ import annotations

from typing import Protocol

from celery import Celery
from kombu.exceptions import OperationalError
from switchboard_shared.commands import send_command
from switchboard_shared.contracts import Command


class BrokerUnavailable(RuntimeError):
    """The command could not be handed to the broker."""


class CommandSender(Protocol):
    def send(self, command: Command, correlation_id: str) -> str:
        """Hand `command` to its service's queue; return the task id."""
        ...


def make_celery_client(broker_url: str) -> Celery:
    """A send-only Celery app: no tasks of its own, JSON on the wire."""
    app = Celery("switchboard-gateway", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_connection_timeout=2.0,
    )
    return app


class CeleryCommandSender:
    def __init__(self, app: Celery) -> None:
        self._app = app

    @classmethod
    def for_broker(cls, broker_url: str) -> CeleryCommandSender:
        return cls(make_celery_client(broker_url))

    def send(self, command: Command, correlation_id: str) -> str:
        try:
            return send_command(self._app, command, correlation_id=correlation_id)
        except OperationalError as exc:
            raise BrokerUnavailable(f"broker refused {command.task_name}") from exc
