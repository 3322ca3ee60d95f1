"""The broker as the ops plane sees it: revoke tasks, read queue depths, purge a queue."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from celery import Celery
from kombu.exceptions import OperationalError

log = logging.getLogger("switchboard.gateway")


class BrokerControl(Protocol):
    def revoke(self, task_id: str, terminate: bool) -> None: ...

    def queue_depths(self, queues: Iterable[str]) -> dict[str, int | None]:
        """Messages waiting in each queue; None for a queue the broker does not have."""
        ...

    def purge(self, queue: str) -> int: ...

    def ping(self) -> bool: ...


class CeleryBrokerControl:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def revoke(self, task_id: str, terminate: bool) -> None:
        self.app.control.revoke(task_id, terminate=terminate, signal="SIGTERM")

    def queue_depths(self, queues: Iterable[str]) -> dict[str, int | None]:
        depths: dict[str, int | None] = {}
        with self.app.connection_for_read() as connection:
            channel = connection.default_channel
            for queue in queues:
                depths[queue] = self._depth(connection, channel, queue)
                if depths[queue] is None and not channel.is_open:
                    channel = connection.channel()  # AMQP closes a channel on a missing queue
        return depths

    @staticmethod
    def _depth(connection: object, channel: object, queue: str) -> int | None:
        if hasattr(channel, "_size"):  # Redis/memory: an empty queue is a missing key there
            return int(channel._size(queue))
        try:
            declared = channel.queue_declare(queue=queue, passive=True)  # type: ignore[attr-defined]
        except Exception:  # the queue does not exist (AMQP 404) or the channel failed
            return None
        return int(declared.message_count)

    def purge(self, queue: str) -> int:
        with self.app.connection_for_write() as connection:
            return int(connection.default_channel.queue_purge(queue) or 0)

    def ping(self) -> bool:
        try:
            with self.app.connection_for_read() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except (OperationalError, OSError) as exc:
            log.warning("broker unreachable: %s", type(exc).__name__)
            return False
