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

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from fastapi import Request
from switchboard_shared.ratelimit import Rate

from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.key_limits import seconds_to_wait, too_many

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

    def admit(self, kind: str, source: str) -> None:
        """Raise 429 with `Retry-After` when `source` is over its `kind` budget (blocking)."""
        rate = self.rates[kind]
        burst = rate.limit if rate else 1.0
        wait = seconds_to_wait(self.redis_url, f"webhooks:{kind}:{source}", rate, burst)
        if wait > 0:
            raise too_many(f"Too many {kind} calls from this address", wait)

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
