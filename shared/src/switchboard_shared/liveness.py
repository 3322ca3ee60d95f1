"""Liveness that proves consumption: probes go through each queue, consumers stamp the time.

A worker that stays connected but silently stopped consuming (celery#8030) stops stamping,
so its queues turn stale here even though it still answers pings.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import cast

import redis

from .redis_checks import redis_client

KEY = "switchboard:liveness:{service}"


@dataclass(frozen=True)
class QueueLiveness:
    queue: str
    last_consumed: float | None
    age_seconds: float | None
    healthy: bool


def stamp(client: redis.Redis, service: str, queue: str, worker: str) -> None:
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.hset(KEY.format(service=service), mapping={f"queue:{queue}": now, f"worker:{worker}": now})
    pipe.expire(KEY.format(service=service), 7 * 24 * 3600)
    pipe.execute()


def read(
    client: redis.Redis, service: str, queues: list[str], max_age: float
) -> list[QueueLiveness]:
    values = cast(dict[str, str], client.hgetall(KEY.format(service=service)))
    now = time.time()
    result = []
    for queue in queues:
        raw = values.get(f"queue:{queue}")
        last = float(raw) if raw is not None else None
        age = now - last if last is not None else None
        result.append(QueueLiveness(queue, last, age, age is not None and age <= max_age))
    return result


def workers(client: redis.Redis, service: str) -> dict[str, float]:
    values = cast(dict[str, str], client.hgetall(KEY.format(service=service)))
    return {
        k.removeprefix("worker:"): float(v) for k, v in values.items() if k.startswith("worker:")
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m switchboard_shared.liveness SERVICE QUEUE... --redis URL`: exit 1 when stale."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("service")
    parser.add_argument("queues", nargs="+")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--max-age", type=float, default=60.0)
    args = parser.parse_args(argv)
    states = read(redis_client(args.redis), args.service, args.queues, args.max_age)
    for state in states:
        age = "never" if state.age_seconds is None else f"{state.age_seconds:.1f}s ago"
        print(f"{state.queue}: {'ok' if state.healthy else 'STALE'} (last consumed {age})")
    return 0 if all(s.healthy for s in states) else 1


if __name__ == "__main__":
    sys.exit(main())
