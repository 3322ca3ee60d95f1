"""A bare Celery app for the baseline: default settings, JSON serializer, one no-op task.

`celery -A bench_bare worker` with `bench/` on PYTHONPATH; broker from BENCH_BROKER_URL.
"""

from __future__ import annotations

import os

from celery import Celery


def build(broker_url: str) -> Celery:
    bare = Celery("bare", broker=broker_url, set_as_current=False)
    bare.conf.task_serializer = "json"
    bare.conf.accept_content = ["json"]

    @bare.task(name="bare.noop")
    def noop() -> None:
        return None

    return bare


def __getattr__(name: str) -> Celery:
    """`app`, built on first use (by `celery -A bench_bare`), from the environment."""
    if name != "app":
        raise AttributeError(name)
    global app
    app = build(os.environ["BENCH_BROKER_URL"])
    return app
