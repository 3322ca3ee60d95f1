"""The floor for bench/order_flow.py: bare chained Celery no-op tasks, default settings.

`celery -A order_flow_bare worker` with `bench/` on PYTHONPATH; broker from BENCH_BROKER_URL.
Each `bare.hop` `.delay()`s the next until `hops` hops have run; the last one pushes
"<chain id> <started> <finished>" (epoch seconds) to the Redis list RESULTS on the broker.
"""

from __future__ import annotations

import os
import time

import redis
from celery import Celery

QUEUE = "order-flow-bare"
RESULTS = "order-flow-bare:results"


def build(broker_url: str) -> Celery:
    bare = Celery("order_flow_bare", broker=broker_url, set_as_current=False)
    bare.conf.task_serializer = "json"
    bare.conf.accept_content = ["json"]
    bare.conf.task_default_queue = QUEUE  # not "celery", which a service may also consume
    results: list[redis.Redis] = []

    @bare.task(
        name="bare.hop", shared=False
    )  # built twice in the bench process (floor before, after)
    def hop(chain: int, left: int, started: float) -> None:
        if left > 1:
            hop.delay(chain, left - 1, started)
            return
        if not results:
            results.append(redis.Redis.from_url(broker_url))
        results[0].rpush(RESULTS, f"{chain} {started} {time.time()}")

    return bare


def __getattr__(name: str) -> Celery:
    """`app`, built on first use (by `celery -A order_flow_bare`), from the environment."""
    if name != "app":
        raise AttributeError(name)
    global app
    app = build(os.environ["BENCH_BROKER_URL"])
    return app
