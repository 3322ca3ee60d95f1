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


app = build(os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
