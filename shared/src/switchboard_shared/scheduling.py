"""Refuse delays the Redis broker cannot keep: past `visibility_timeout` a task runs twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


class ScheduleTooFar(ValueError):
    pass


def delay_seconds(countdown: float | None, eta: datetime | str | None) -> float:
    if countdown is not None:
        return float(countdown)
    if eta is None:
        return 0.0
    when = datetime.fromisoformat(eta) if isinstance(eta, str) else eta
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def visibility_timeout(conf: Any) -> float:
    return float((conf.broker_transport_options or {}).get("visibility_timeout", 3600))


def reservation_horizon(conf: Any) -> float:
    """How far ahead a rate-limit slot may be reserved: half the visibility timeout, so the
    re-queue's countdown (and an early delivery's second one) stays well inside it."""
    return visibility_timeout(conf) / 2


def guard_delay(
    conf: Any, countdown: float | None = None, eta: datetime | str | None = None
) -> None:
    broker = str(conf.broker_url or "")
    if not broker.startswith(("redis", "rediss")):
        return
    limit = visibility_timeout(conf)
    delay = delay_seconds(countdown, eta)
    if delay >= limit:
        raise ScheduleTooFar(
            f"a delay of {delay:.0f}s reaches the Redis broker's visibility_timeout ({limit:.0f}s): "
            "the message would be redelivered and run twice (celery#2599, kombu#337). "
            "Use a periodic (beat) task or raise SWITCHBOARD_VISIBILITY_TIMEOUT."
        )
