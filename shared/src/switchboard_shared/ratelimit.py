"""A rate limit shared by every worker of a service: a token bucket in Redis.

Celery's own `rate_limit` is per worker process; this one is one bucket in Redis, updated
atomically by a Lua script on Redis's own clock, so all workers together stay under it.
A caller that gets no token raises `RateLimited`: the kit's task re-queues the message with
the wait as its countdown (a worker never sleeps for a token).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.commands.core import Script

from .failures import ClassifiedError, FailureClass

_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh])\s*$")
_OFF = {"", "0", "off", "none", "false"}

# KEYS[1] bucket; ARGV: tokens per second, capacity, tokens wanted.
# Returns {granted (0/1), seconds to wait (string: Lua numbers become integers)}.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local granted, wait = 0, 0
if tokens >= wanted then
  tokens = tokens - wanted
  granted = 1
else
  wait = (wanted - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 60)
return {granted, tostring(wait)}
"""


class RateLimited(ClassifiedError):
    """No token now: run again in `retry_after` seconds (not a failure, never dead-lettered)."""

    failure_class = FailureClass.PROVIDER_5XX

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message, retry_after=retry_after)


@dataclass(frozen=True)
class Rate:
    """`limit` events per `period` seconds."""

    limit: float
    period: float

    @property
    def per_second(self) -> float:
        return self.limit / self.period

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """`"50/m"`, `"10/s"`, `"1000/h"`, `"20/5s"`; empty, `0` or `off` mean no limit."""
        if text.strip().lower() in _OFF:
            return None
        match = _RATE.match(text)
        if match is None:
            raise ValueError(f"rate {text!r}: expected N/s, N/m, N/h or N/<k>s (e.g. 50/m)")
        limit, every, unit = match.groups()
        rate = cls(float(limit), float(every or 1) * _PERIODS[unit])
        if rate.limit <= 0 or rate.period <= 0:
            return None
        return rate


class Limiter(Protocol):
    def acquire(self) -> None:
        """Take one token or raise `RateLimited`."""
        ...


class Unlimited:
    def acquire(self) -> None:
        return None


class TokenBucket:
    """One bucket in Redis. `burst` 1 spaces events evenly: never more than `limit` in any
    window of `period` seconds; a larger burst allows up to `burst - 1` more in a window."""

    def __init__(self, redis: Callable[[], Any], key: str, rate: Rate, burst: float = 1.0) -> None:
        self._redis = redis  # a getter: the client is made after a worker forks
        self.key = f"switchboard:ratelimit:{key}"
        self.rate = rate
        self.burst = max(1.0, burst)
        self._take = Script(None, _TAKE.encode())  # type: ignore[arg-type]  # client per call

    def try_acquire(self) -> float:
        """0 when a token was taken, else the seconds until one will be there."""
        granted, wait = self._take(
            keys=[self.key], args=[self.rate.per_second, self.burst, 1], client=self._redis()
        )
        return 0.0 if int(granted) else max(float(wait), 0.001)

    def acquire(self) -> None:
        wait = self.try_acquire()
        if wait:
            raise RateLimited(f"rate limit {self.key!r}: next token in {wait:.2f}s", wait)


def limiter_for(redis: Callable[[], Any], key: str, rate: str, burst: float = 1.0) -> Limiter:
    parsed = Rate.parse(rate)
    return TokenBucket(redis, key, parsed, burst) if parsed else Unlimited()
