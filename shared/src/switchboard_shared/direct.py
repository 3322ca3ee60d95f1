"""Sending a task message straight to one named queue, through the default exchange.

Celery's `send_task(exchange="")` falls back to the default queue's exchange; a queue object
with no exchange makes it publish anonymously (exchange "", routing key = queue name), and
`no_declare` keeps it from re-declaring a queue whose arguments (quorum, limits) it doesn't know.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue


def queue_ref(name: str) -> Queue:
    return Queue(name, no_declare=True)


def send_to_queue(
    app: Celery, task_name: str, queue: str, *, args: Any = (), kwargs: Any = None, **options: Any
) -> Any:
    return app.send_task(
        task_name, args=args, kwargs=kwargs or {}, queue=queue_ref(queue), **options
    )
