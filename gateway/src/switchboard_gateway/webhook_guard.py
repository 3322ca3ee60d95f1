"""What protects the provider webhooks: rate limits per source address, threads of their own.

A verified call takes from a generous budget of its source address, a refused one (its
signature failed) from a tight one: an address sending forgeries is answered 429 without
another row written, and never spends the budget of another address. The limits are the
kit's GCRA schedules in Redis; when Redis cannot be reached the call goes through (the
limit protects the gateway, it must not drop a provider's callbacks).

The webhooks' blocking work (Redis, the database, the outbox) runs on a thread limiter of
its own, so ops reads filling Starlette's shared pool never keep a provider waiting.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import HTTPException, Request
from redis.exceptions import RedisError
from switchboard_shared.ratelimit import Rate, TokenBucket

from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.monitor import shared_redis

log = logging.getLogger("switchboard.gateway")
T = TypeVar("T")
VERIFIED, REFUSED = "verified", "refused"


class WebhookGuard:
    def __init__(self, settings: GatewaySettings) -> None:
        self.threads = anyio.CapacityLimiter(settings.webhook_threads)
        self.redis_url = settings.effective_redis_url
        self.rates = {
            VERIFIED: Rate.parse(settings.webhook_rate_limit),
            REFUSED: Rate.parse(settings.webhook_invalid_rate_limit),
        }

    def wait(self, kind: str, source: str) -> float:
        """0 when a `kind` call from `source` may go on, else the seconds until it may."""
        rate = self.rates[kind]
        if rate is None:
            return 0.0
        key = f"webhooks:{kind}:{source}"
        bucket = TokenBucket(lambda: shared_redis(self.redis_url), key, rate, burst=rate.limit)
        try:
            return bucket.try_acquire()
        except RedisError as exc:
            log.warning("webhook rate limit not checked (Redis: %s)", exc)
            return 0.0

    def admit(self, kind: str, source: str) -> None:
        """Raise 429 with `Retry-After` when `source` is over its `kind` budget (blocking)."""
        wait = self.wait(kind, source)
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            raise HTTPException(
                429,
                detail=f"Too many {kind} calls from this address",
                headers={"Retry-After": retry_after},
            )

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(*args)` on the webhooks' own threads."""
        return await anyio.to_thread.run_sync(work, *args, limiter=self.threads)


def guard_of(request: Request) -> WebhookGuard:
    """The app's guard, made on first use (from the event loop's thread: no race)."""
    state = request.app.state
    guard: WebhookGuard | None = getattr(state, "webhook_guard", None)
    if guard is None:
        guard = state.webhook_guard = WebhookGuard(state.settings)
    return guard


def source_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"
