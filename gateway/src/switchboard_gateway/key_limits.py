"""Per-API-key request rates: the kit's GCRA limiter in Redis, one schedule per key and kind.

Reads and writes have separate budgets, so a client polling its tasks cannot starve its own
submissions. A key is known here only by its id (a hash prefix), never by its value. When
Redis cannot be reached the request goes through: the limit protects the platform, it must
not take it down.
"""

from __future__ import annotations

import hashlib
import logging
from functools import cache

from redis.exceptions import RedisError
from switchboard_shared.ratelimit import Rate, TokenBucket
from switchboard_shared.redis_checks import redis_client

from switchboard_gateway.config import GatewaySettings

log = logging.getLogger("switchboard.gateway")
shared_redis = cache(redis_client)


def key_id(presented: str) -> str:
    """A stable, non-reversible name for an API key, for logs, limits and the audit log."""
    return "key_" + hashlib.sha256(presented.encode()).hexdigest()[:16]


class KeyRateLimits:
    def __init__(self, settings: GatewaySettings) -> None:
        self.redis_url = settings.effective_redis_url
        self.rates = {
            False: (Rate.parse(settings.rate_limit_reads), settings.rate_limit_reads_burst),
            True: (Rate.parse(settings.rate_limit_writes), settings.rate_limit_writes_burst),
        }
        self._buckets: dict[tuple[str, bool], TokenBucket] = {}

    def wait(self, key: str, write: bool) -> float:
        """0 when the key may go now, else the seconds until it may."""
        rate, burst = self.rates[write]
        if rate is None:
            return 0.0
        bucket = self._buckets.get((key, write))
        if bucket is None:
            kind = "write" if write else "read"
            bucket = TokenBucket(
                lambda: shared_redis(self.redis_url), f"api:{key}:{kind}", rate, burst
            )
            self._buckets[(key, write)] = bucket
        try:
            return bucket.try_acquire()
        except RedisError as exc:
            log.warning("API rate limit not checked (Redis: %s)", exc)
            return 0.0
