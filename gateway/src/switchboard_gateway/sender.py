"""Sending commands to services: a small port, and its Celery implementation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from celery import Celery
from celery.backends.redis import RedisBackend
from celery.exceptions import TimeoutError as CeleryTimeout
from switchboard_shared.commands import PUBLISH_FAILURES, confirmed_publishing, send_command
from switchboard_shared.contracts import Command
from switchboard_shared.redis_transport import transport_for
from switchboard_shared.settings import PlatformSettings

log = logging.getLogger("switchboard.gateway")
# How long a send waits for RabbitMQ's confirm before the route answers 503.
CONFIRM_TIMEOUT_S = 5.0


class BrokerUnavailable(RuntimeError):
    """The broker did not take the command, or did not confirm it in time."""


class CommandFailed(RuntimeError):
    """The service refused or failed the command; `str()` says why."""


class CommandTimeout(RuntimeError):
    """No answer within the wait."""


class CommandSender(Protocol):
    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        """Hand `command` to its service's queue; return the task id."""
        ...

    def call(self, command: Command, correlation_id: str, timeout: float = 10.0) -> Any:
        """Send `command` and wait for its result (a query answered by its service)."""
        ...


class ResultsWhenAskedRedisBackend(RedisBackend):
    """Celery's Redis result backend, minus the subscription to each sent task's result.

    Celery subscribes to a task's result channel as it sends it, in case the caller waits.
    The gateway hands most commands over and answers 202: that was a SUBSCRIBE and an
    UNSUBSCRIBE per submitted command. `AsyncResult.get()` (a query the gateway waits for)
    still subscribes, and reads the stored result first, so no answer is missed.
    """

    def on_task_call(self, producer: Any, task_id: str) -> None:
        return None


def _backend(result_backend: str | None) -> str | None:
    if result_backend and result_backend.startswith(("redis://", "rediss://", "unix://")):
        return f"{__name__}:{ResultsWhenAskedRedisBackend.__name__}+{result_backend}"
    return result_backend


def make_celery_client(broker_url: str, result_backend: str | None = None) -> Celery:
    """A client Celery app: no tasks of its own, JSON on the wire, every publish confirmed."""
    app = Celery(
        "switchboard-gateway",
        broker=broker_url,
        backend=_backend(result_backend),
        set_as_current=False,
    )
    app.conf.update(
        broker_transport=transport_for(broker_url),
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_connection_timeout=2.0,
        broker_transport_options=confirmed_publishing(broker_url),
    )
    return app


class CeleryCommandSender:
    def __init__(self, app: Celery) -> None:
        self._app = app

    @classmethod
    def for_broker(cls, broker_url: str) -> CeleryCommandSender:
        return cls(make_celery_client(broker_url))

    @classmethod
    def for_settings(cls, settings: PlatformSettings) -> CeleryCommandSender:
        return cls(make_celery_client(settings.broker_url, settings.effective_redis_url))

    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        try:
            return send_command(
                self._app,
                command,
                correlation_id=correlation_id,
                task_id=task_id,
                confirm_timeout=CONFIRM_TIMEOUT_S,
            )
        except PUBLISH_FAILURES as exc:
            # kombu has already dropped the pooled connection the failed publish was on.
            raise BrokerUnavailable(f"broker did not take {command.task_name}: {exc!r}") from exc

    def call(self, command: Command, correlation_id: str, timeout: float = 10.0) -> Any:
        task_id = self.send(command, correlation_id)
        try:
            return self._app.AsyncResult(task_id).get(timeout=timeout, propagate=True)
        except CeleryTimeout as exc:
            raise CommandTimeout(
                f"{command.task_name} did not answer within {timeout:.0f}s"
            ) from exc
        except Exception as exc:  # the service's failure, re-raised by Celery from the backend
            raise CommandFailed(str(exc)) from exc


class LedgerSender:
    """Any sender, plus a ledger row for every command it hands over.

    The row exists before the first task event arrives, so a submitted task is known even
    when the ledger consumer is down (and the consumer catches up on it later).
    """

    def __init__(self, inner: CommandSender, record: Callable[[str, str, str], None]) -> None:
        self.inner = inner
        self.record = record

    def send(self, command: Command, correlation_id: str, task_id: str | None = None) -> str:
        task_id = self.inner.send(command, correlation_id, task_id)
        try:
            self.record(task_id, command.task_name, command.queue)
        except Exception:  # the command went out; the consumer will still see its events
            log.exception("could not record %s in the task ledger", command.task_name)
        return task_id

    def call(self, command: Command, correlation_id: str, timeout: float = 10.0) -> Any:
        return self.inner.call(command, correlation_id, timeout)
