"""Request rates in Redis (the kit's GCRA limiter): per API key here, per source address for
the provider webhooks (`webhook_guard`).

Reads and writes have separate budgets, so a client polling its tasks cannot starve its own
submissions. A key is known here only by its id (a hash prefix), never by its value. When
Redis cannot be reached the request goes through: a limit protects the platform, it must
not take it down.
"""

from __future__ import annotations

import hashlib
import logging
import math

from fastapi import HTTPException
from redis.exceptions import RedisError
from switchboard_shared.ratelimit import Rate, TokenBucket

from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.monitor import shared_redis

log = logging.getLogger("switchboard.gateway")


def key_id(presented: str) -> str:
    """A stable, non-reversible name for an API key, for logs, limits and the audit log."""
    return "key_" + hashlib.sha256(presented.encode()).hexdigest()[:16]


def seconds_to_wait(redis_url: str, key: str, rate: Rate | None, burst: float) -> float:
    """0 when a call under `key` may go now, else the seconds until it may (fails open)."""
    if rate is None:
        return 0.0
    bucket = TokenBucket(lambda: shared_redis(redis_url), key, rate, burst)
    try:
        return bucket.try_acquire()
    except RedisError as exc:
        log.warning("rate limit %s not checked (Redis: %s)", key, exc)
        return 0.0


def too_many(detail: str, wait: float) -> HTTPException:
    return HTTPException(429, detail=detail, headers={"Retry-After": str(max(1, math.ceil(wait)))})


class KeyRateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self.redis_url = settings.effective_redis_url
        self.rates = {
            False: (Rate.parse(settings.rate_limit_reads), settings.rate_limit_reads_burst),
            True: (Rate.parse(settings.rate_limit_writes), settings.rate_limit_writes_burst),
        }

    def admit(self, key: str, write: bool) -> None:
        """Raise 429 with `Retry-After` when the key is over its read or write budget."""
        rate, burst = self.rates[write]
        kind = "writes" if write else "reads"
        wait = seconds_to_wait(self.redis_url, f"api:{key}:{kind}", rate, burst)
        if wait > 0:
            raise too_many(f"Too many {kind} for this API key: retry later", wait)
