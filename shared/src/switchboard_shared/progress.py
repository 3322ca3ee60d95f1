"""Progress of long work (percent and current step), reported from plain handler code."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ProgressSink = Callable[[float, str], None]
_sink: ContextVar[ProgressSink | None] = ContextVar("switchboard_progress", default=None)


def report(percent: float, step: str) -> None:
    """Tell whoever runs this work how far it is; a no-op outside a task."""
    sink = _sink.get()
    if sink is not None:
        sink(max(0.0, min(100.0, round(percent, 1))), step)


@contextmanager
def reporting_to(sink: ProgressSink) -> Iterator[None]:
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


def celery_sink(task: object) -> ProgressSink:
    """Progress as task state `PROGRESS` (result backend) and a `task-progress` event (gateway, Flower)."""

    def sink(percent: float, step: str) -> None:
        meta = {"progress": percent, "current_step": step}
        task.update_state(state="PROGRESS", meta=meta)  # type: ignore[attr-defined]
        task.send_event("task-progress", **meta)  # type: ignore[attr-defined]

    return sink
