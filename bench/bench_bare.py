"""A bare Celery app for the baseline: default settings, JSON serializer, one no-op task.

The prefetch multiplier is the platform's (BENCH_PREFETCH_MULTIPLIER, set by the bench from the
kit's ServiceSettings) so both workers reserve the same number of messages; everything else
(early acks, no task events, no result backend) stays Celery's default.

`celery -A bench_bare worker` with `bench/` on PYTHONPATH; broker from BENCH_BROKER_URL.
"""

from __future__ import annotations

import os

from celery import Celery


def build(broker_url: str, prefetch_multiplier: int | None = None) -> Celery:
    bare = Celery("bare", broker=broker_url, set_as_current=False)
    bare.conf.task_serializer = "json"
    bare.conf.accept_content = ["json"]
    if prefetch_multiplier is not None:
        bare.conf.worker_prefetch_multiplier = prefetch_multiplier

    @bare.task(name="bare.noop")
    def noop() -> None:
        return None

    return bare


def __getattr__(name: str) -> Celery:
    """`app`, built on first use (by `celery -A bench_bare`), from the environment."""
    if name != "app":
        raise AttributeError(name)
    global app
    prefetch = os.environ.get("BENCH_PREFETCH_MULTIPLIER")
    app = build(os.environ["BENCH_BROKER_URL"], int(prefetch) if prefetch else None)
    return app
