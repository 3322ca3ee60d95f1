"""The figures `status` and `report` share: readiness, services, totals over a window, alerts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from switchboard_gateway.cli.client import GatewayClient
from switchboard_gateway.cli.render import items_of

FAILED_STATES = ("failed", "dead_lettered")


def queued(service: dict[str, Any]) -> int:
    """Messages waiting in all of a service's queues."""
    return sum(int(queue.get("depth") or 0) for queue in service.get("queues") or [])


def totals(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Every task name's counts added up, with one success rate over the finished ones."""
    by_state: Counter[str] = Counter()
    for row in metrics:
        by_state.update(row.get("by_state") or {})
    succeeded = by_state["succeeded"]
    failed = sum(by_state[state] for state in FAILED_STATES)
    finished = succeeded + failed
    return {
        "tasks": sum(by_state.values()),
        "succeeded": succeeded,
        "failed": failed,
        "retries": sum(int(row.get("retries") or 0) for row in metrics),
        "success_rate": succeeded / finished if finished else None,
        "by_state": dict(by_state),
    }


def platform_status(client: GatewayClient, hours: float) -> dict[str, Any]:
    ready = client.request("GET", "/health/ready", accept=(503,)).json()
    metrics = items_of(client.get("/metrics", hours=hours))
    alerts = items_of(client.get("/alerts"))
    return {
        "hours": hours,
        "healthy": not ready.get("missing") and not alerts,
        "ready": ready,
        "services": items_of(client.get("/services", hours=hours)),
        "totals": totals(metrics),
        "metrics": metrics,
        "alerts": alerts,
    }


def full_report(client: GatewayClient, hours: float) -> dict[str, Any]:
    """Everything an ops summary shows: the status plus failures, trends, queues, dead letters."""
    report = platform_status(client, hours)
    dead_letters = client.get("/dead-letters", limit=20)
    report.update(
        failures=client.get("/failures", hours=hours),
        trends=client.get("/trends", hours=hours, bucket=trend_bucket(hours)),
        queues=items_of(client.get("/queues")),
        workers=items_of(client.get("/workers")),
        dead_letters=dead_letters,
    )
    return report


def trend_bucket(hours: float) -> str:
    """About 24 buckets over the window, never below a minute."""
    minutes = max(1, round(hours * 60 / 24))
    if minutes % (24 * 60) == 0:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
