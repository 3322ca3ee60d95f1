"""Flower for one service on a broker several services share.

Out of the box a Flower lists every worker on the broker: control broadcasts and task
events reach all of them. Here a worker belongs to the service when it consumes one of the
service's queues (`<service>.*`, learnt from `active_queues`); inspection asks members only,
and events from other workers are dropped (those from a worker not yet classified wait, a
bounded number, until the next inspection says whose it is).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from functools import partial
from typing import Any

from flower.events import Events
from flower.inspector import Inspector

HELD_PER_WORKER = 1000
RECLASSIFY_SECONDS = 10.0

Event = dict[str, Any]


class ServiceScope:
    """Which workers are the service's; thread-safe (inspector threads and the io loop)."""

    def __init__(self, service: str) -> None:
        self.prefix = f"{service}."
        self._members: dict[str, bool] = {}
        self._held: defaultdict[str, deque[Event]] = defaultdict(
            lambda: deque(maxlen=HELD_PER_WORKER)
        )
        self._asked_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def learn(self, active_queues: dict[str, Any]) -> list[Event]:
        """Classify the workers that answered; returns the held events of new members."""
        released: list[Event] = []
        with self._lock:
            for hostname, queues in active_queues.items():
                names = [str(q.get("name", "")) for q in queues or [] if isinstance(q, dict)]
                member = any(name.startswith(self.prefix) for name in names)
                self._members[hostname] = member
                held = self._held.pop(hostname, ())
                if member:
                    released.extend(held)
        return released

    def verdict(self, hostname: str) -> bool | None:
        with self._lock:
            return self._members.get(hostname)

    @property
    def members(self) -> list[str]:
        with self._lock:
            return sorted(name for name, member in self._members.items() if member)

    def hold(self, event: Event) -> bool:
        """Keep an unclassified worker's event; True when it is time to ask who it is."""
        hostname = str(event.get("hostname"))
        now = time.monotonic()
        with self._lock:
            self._held[hostname].append(event)
            if now - self._asked_at.get(hostname, -RECLASSIFY_SECONDS) < RECLASSIFY_SECONDS:
                return False
            self._asked_at[hostname] = now
            return True


class ScopedInspector(Inspector):  # type: ignore[misc]
    def __init__(self, *args: Any, scope: ServiceScope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.on_released: Callable[[list[Event]], None] = lambda events: None

    async def _inspect_all(self, workername: str | None) -> None:
        await self.io_loop.run_in_executor(None, self._classify)
        if workername is not None and not self.scope.verdict(workername):
            return
        await super()._inspect_all(workername)

    def _classify(self) -> None:
        replies = self.capp.control.inspect(timeout=self.timeout).active_queues() or {}
        released = self.scope.learn(replies)
        if released:
            self.io_loop.add_callback(partial(self.on_released, released))

    def _inspect(self, method: str, workername: str | None) -> None:
        # One reply is awaited per named destination, so asking members one by one is quick.
        for member in [workername] if workername else self.scope.members:
            super()._inspect(method, member)

    def _on_update(self, workername: str, method: str, response: Any) -> None:
        if self.scope.verdict(workername):
            super()._on_update(workername, method, response)


class ScopedEvents(Events):  # type: ignore[misc]
    def __init__(self, *args: Any, scope: ServiceScope, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope = scope
        self.on_unknown_worker: Callable[[], object] = lambda: None

    def on_event(self, event: Event) -> None:  # the receiver thread
        self.io_loop.add_callback(partial(self.admit, event))

    def admit(self, event: Event) -> None:  # the io loop
        verdict = self.scope.verdict(str(event.get("hostname")))
        if verdict:
            self.state.event(event)
        elif verdict is None and self.scope.hold(event):
            self.on_unknown_worker()

    def replay(self, events: list[Event]) -> None:
        for event in events:
            self.state.event(event)
