"""In-memory stand-ins for the ops plane's broker port, and ledger seeding helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ADMIN = "admin-key-0123"
READER = "reader-key-0123"


@dataclass
class FakeControl:
    depths: dict[str, int] = field(default_factory=dict)
    revoked: list[tuple[str, bool]] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    broker_up: bool = True

    def revoke(self, task_id: str, terminate: bool) -> None:
        self.revoked.append((task_id, terminate))

    def queue_depths(self, queues: Iterable[str]) -> dict[str, int | None]:
        return {q: self.depths.get(q, 0) for q in queues}

    def purge(self, queue: str) -> int:
        self.purged.append(queue)
        return self.depths.pop(queue, 0)

    def ping(self) -> bool:
        return self.broker_up


def task_events(
    name: str,
    *,
    fail: str | None = None,
    runtime: float = 0.5,
    host: str = "orders@h",
    at: float | None = None,
) -> list[dict[str, Any]]:
    """The Celery events of one task, as a worker sends them."""
    task_id, start = str(uuid.uuid4()), at or time.time()
    base = {"uuid": task_id, "hostname": host}
    events = [
        {**base, "type": "task-received", "name": name, "retries": 0, "timestamp": start},
        {**base, "type": "task-started", "timestamp": start + 0.01},
    ]
    end = start + 0.01 + runtime
    if fail:
        events.append(
            {
                **base,
                "type": "task-dead-lettered",
                "classification": fail,
                "dead_letter_id": "dl1",
                "exception_type": "ProviderError",
                "message": "card declined",
                "reason": "r",
                "timestamp": end,
            }
        )
        events.append(
            {
                **base,
                "type": "task-failed",
                "exception": "DeadLettered('r')",
                "timestamp": end + 0.001,
            }
        )
    else:
        events.append(
            {
                **base,
                "type": "task-succeeded",
                "result": "{'ok': True}",
                "runtime": runtime,
                "timestamp": end,
            }
        )
    return events
