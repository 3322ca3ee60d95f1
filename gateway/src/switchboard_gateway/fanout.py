"""Asking several services at once, under one deadline, on threads of the ops reads' own.

A service that does not answer in time is named, not waited for: the caller answers with
what arrived. The calls block (Celery's result wait), so they run on a thread limiter kept
apart from Starlette's shared pool and from the provider webhooks' (see `webhook_guard`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
from fastapi import Request

T = TypeVar("T")
OPS_THREADS = 32


def ops_threads(request: Request) -> anyio.CapacityLimiter:
    """The app's limiter for ops fan-outs, made on first use (on the event loop's thread)."""
    state = request.app.state
    limiter: anyio.CapacityLimiter | None = getattr(state, "ops_threads", None)
    if limiter is None:
        limiter = state.ops_threads = anyio.CapacityLimiter(OPS_THREADS)
    return limiter


async def gather(
    calls: Mapping[str, Callable[[], T]], deadline: float, limiter: anyio.CapacityLimiter
) -> dict[str, T | BaseException]:
    """Run every call concurrently; each name maps to its result or its exception. A call
    still running at the deadline is left out (its thread finishes on its own)."""
    done: dict[str, T | BaseException] = {}

    async def one(name: str, call: Callable[[], T]) -> None:
        try:
            done[name] = await anyio.to_thread.run_sync(
                call, limiter=limiter, abandon_on_cancel=True
            )
        except Exception as exc:
            done[name] = exc

    with anyio.move_on_after(deadline):
        async with anyio.create_task_group() as group:
            for name, call in calls.items():
                group.start_soon(one, name, call)
    return done


def answered(done: Mapping[str, Any], asked: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The answers that arrived, and the names that failed or did not answer, in asked order."""
    results = {n: done[n] for n in asked if n in done and not isinstance(done[n], BaseException)}
    return results, [n for n in asked if n not in results]
