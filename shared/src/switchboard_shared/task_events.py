"""Task events, batched: the worker publishes them in Celery's own `task.multi` messages.

Celery's worker already buffers task events and publishes a buffer as one `task.multi`
message (a JSON list that `celery.events.EventReceiver`, Flower and the gateway's ledger
unpack), but it flushes on the next event-loop tick, so each task still costs about three
broker publishes (received, started, succeeded). This consumer step flushes at most once per
window instead: the same standard events, in order, a few broker writes per window
(ADR 0018).
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

EVENTS_STEP = "celery.worker.consumer.events:Events"


class BatchedTaskEvents(bootsteps.StartStopStep):
    """Re-points the worker's event dispatcher at a timed flush (restarted with the consumer)."""

    requires = (EVENTS_STEP,)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        conf = c.app.conf
        self.window = float(conf.get("switchboard_task_events_window", 0.1))
        self.batch_max = int(conf.get("switchboard_task_events_batch_max", 100))
        self._pending = False
        super().__init__(c, **kwargs)

    def start(self, c: Any) -> None:
        self._pending = False  # a timer from before a consumer restart is gone with its hub
        dispatcher = c.event_dispatcher
        if dispatcher is None or c.hub is None or self.window <= 0:
            return
        dispatcher.buffer_limit = self.batch_max
        dispatcher.on_send_buffered = lambda: self._schedule(c)

    def _schedule(self, c: Any) -> None:
        if self._pending:
            return
        self._pending = True
        c.hub.call_later(self.window, self._flush, c)

    def _flush(self, c: Any) -> None:
        self._pending = False
        if c.event_dispatcher is not None:
            c.event_dispatcher.flush()

    def stop(self, c: Any) -> None:
        self._flush(c)

    def shutdown(self, c: Any) -> None:
        self._flush(c)
