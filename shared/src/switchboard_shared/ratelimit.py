"""A rate limit shared by every worker of a service: GCRA reserved slots in Redis.

Celery's own `rate_limit` is per worker process; this one is one schedule in Redis, updated
atomically by a Lua script on Redis's own clock, so all workers together stay under it.
A caller that may not go now raises `RateLimited`: the kit's task re-queues the message with
the wait as its countdown (a worker never sleeps for a token).

Inside a kit task run (see `reservations`), a denied caller also reserves the next free slot
of the schedule: the message is re-queued to that slot and, presenting it from its headers,
goes through without asking again. A backlog of N messages then costs N re-queues, not N
re-queues every second until each wins a token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol

from redis.commands.core import Script

from .failures import ClassifiedError, FailureClass

_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)?\s*([smh])\s*$")
_OFF = {"", "0", "off", "none", "false"}

SLOTS_HEADER = "sb_ratelimit_slots"  # {limiter key: slot time, Redis-clock seconds}
DEFAULT_MAX_WAIT = 1800.0  # outside a kit run: half the default visibility_timeout
SLOT_TOLERANCE = 0.05  # a slot presented this early still goes

# GCRA. KEYS[1] schedule; ARGV: seconds per event, tolerance tau = (burst - 1) * that,
# reserve (0/1), max wait. TAT is the theoretical arrival time of the next event; a call at
# `now` conforms when TAT - tau <= now.
# Returns {granted (0/1), seconds to wait, reserved slot time or 0} (as strings: Lua numbers
# become integers).
_TAKE = """
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local reserve = ARGV[3] == '1'
local max_wait = tonumber(ARGV[4])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat')) or now
local start = tat - tau
if start <= now then
  tat = math.max(tat, now) + interval
elseif reserve and start - now <= max_wait then
  tat = tat + interval
else
  return {0, tostring(start - now), '0'}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat))
redis.call('EXPIRE', KEYS[1], math.ceil(tat - now + tau) + 60)
if start <= now then
  return {1, '0', '0'}
end
return {0, tostring(start - now), string.format('%.6f', start)}
"""


@dataclass(frozen=True)
class Slot:
    """A place reserved in a limiter's schedule: `at` is on Redis's clock."""

    key: str
    at: float


class RateLimited(ClassifiedError):
    """Not now: run again in `retry_after` seconds (not a failure, never dead-lettered).

    With `slot`, a place was reserved for this message at that time (see `reservations`)."""

    failure_class = FailureClass.PROVIDER_5XX

    def __init__(self, message: str, retry_after: float = 1.0, slot: Slot | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.slot = slot


@dataclass
class Reservations:
    """One task run's slots (limiter key -> slot time), and how far ahead it may reserve."""

    held: dict[str, float] = field(default_factory=dict)
    max_wait: float = DEFAULT_MAX_WAIT


_current: ContextVar[Reservations | None] = ContextVar("switchboard_reservations", default=None)


@contextmanager
def reservations(held: Mapping[str, float], max_wait: float) -> Iterator[Reservations]:
    """Run with these slots; what is left in `held` afterwards is still owed to the message."""
    run = Reservations(dict(held), max_wait)
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def current_reservations() -> Reservations | None:
    return _current.get()


def slots_from_header(value: Any) -> dict[str, float]:
    """The slots a message carries; anything malformed counts as none."""
    if not isinstance(value, Mapping):
        return {}
    return {
        str(key): float(at)
        for key, at in value.items()
        if isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at)
    }


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
    def acquire(self, reserve: bool = True) -> None:
        """Go now or raise `RateLimited`; `reserve` False never reserves a slot (for a caller
        that catches `RateLimited` itself and so would never present one)."""
        ...


class Unlimited:
    def acquire(self, reserve: bool = True) -> None:
        return None


@dataclass(frozen=True)
class Verdict:
    granted: bool
    wait: float  # seconds until the caller may go (0 when granted)
    slot: float | None = None  # reserved slot time on Redis's clock, when one was reserved


class TokenBucket:
    """One GCRA schedule in Redis. `burst` 1 spaces events evenly: never more than `limit` in
    any window of `period` seconds; a larger burst allows up to `burst - 1` more in a window."""

    def __init__(self, redis: Callable[[], Any], key: str, rate: Rate, burst: float = 1.0) -> None:
        self._redis = redis  # a getter: the client is made after a worker forks
        self.key = f"switchboard:ratelimit:{key}"
        self.rate = rate
        self.burst = max(1.0, burst)
        self._take = Script(None, _TAKE.encode())  # type: ignore[arg-type]  # client per call

    @property
    def _interval(self) -> float:
        return 1 / self.rate.per_second

    def take(self, reserve: bool = False, max_wait: float = DEFAULT_MAX_WAIT) -> Verdict:
        """One call of the script: granted, reserved (not granted, with a slot) or denied."""
        interval = self._interval
        args = [interval, (self.burst - 1) * interval, int(reserve), max_wait]
        granted, wait, slot = self._take(keys=[self.key], args=args, client=self._redis())
        if int(granted):
            return Verdict(True, 0.0)
        return Verdict(False, max(float(wait), 0.001), float(slot) or None)

    def try_acquire(self) -> float:
        """0 when the caller may go now, else the seconds until it may (nothing reserved)."""
        return self.take().wait

    def acquire(self, reserve: bool = True) -> None:
        run = current_reservations()
        if run is not None and self.key in run.held:
            return self._present(run)
        max_wait = run.max_wait if run is not None else DEFAULT_MAX_WAIT
        # Only a kit run carries a slot to the message's next delivery: elsewhere it would leak.
        verdict = self.take(reserve and run is not None, max_wait)
        if verdict.granted:
            return None
        if run is not None and verdict.slot is not None:
            run.held[self.key] = verdict.slot
            slot = Slot(self.key, verdict.slot)
            raise RateLimited(
                f"rate limit {self.key!r}: slot in {verdict.wait:.2f}s", verdict.wait, slot
            )
        wait = min(verdict.wait, max_wait)
        raise RateLimited(f"rate limit {self.key!r}: next token in {wait:.2f}s", wait)

    def _present(self, run: Reservations) -> None:
        """Go on the slot this message holds (already paid for in the schedule), once its
        time has come; an early delivery waits again for the same slot."""
        at = run.held[self.key]
        # Redis's clock, as the slot's: a worker on another host may run ahead or behind.
        seconds, micros = self._redis().time()
        early = at - (seconds + micros / 1_000_000)
        if early > SLOT_TOLERANCE:
            message = f"rate limit {self.key!r}: slot in {early:.2f}s (delivered early)"
            raise RateLimited(message, min(early, run.max_wait), Slot(self.key, at))
        del run.held[self.key]
        if -early <= self._interval / 2:
            return None
        # Came back too late (a busy worker): going now could crowd the next slots' window, so
        # this caller takes the schedule afresh like any other.
        self.acquire()


def limiter_for(redis: Callable[[], Any], key: str, rate: str, burst: float = 1.0) -> Limiter:
    parsed = Rate.parse(rate)
    return TokenBucket(redis, key, parsed, burst) if parsed else Unlimited()
