"""Alert rules (seed 000/001), evaluated on the gateway worker's beat.

Each rule yields the conditions that hold now; an alert is raised when its condition first
holds and resolved when it no longer does, each change announced as an event through the
gateway's outbox in the same transaction as the alert row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.gateway import AlertRaised, AlertResolved
from switchboard_shared.records import utcnow
from switchboard_shared.runtime import ServiceRuntime

from switchboard_gateway.config import GatewayOpsSettings
from switchboard_gateway.ledger.models import AlertRecord
from switchboard_gateway.ledger.stats import FAILED, finished_by
from switchboard_gateway.monitor import PlatformView


@dataclass(frozen=True)
class Condition:
    rule: str
    subject: str
    value: float
    threshold: float
    message: str

    @property
    def alert_id(self) -> str:
        return f"{self.rule}:{self.subject}"


def failure_rates(view: PlatformView, settings: GatewayOpsSettings) -> list[Condition]:
    counted = ("succeeded", *FAILED)
    tallies = finished_by(view.ledger, settings.alert_window_minutes / 60, "name", state=counted)
    found = []
    for (name,), tally in tallies.items():
        total, failed = tally.total, sum(tally.by_state.get(s, 0) for s in FAILED)
        if not total:
            continue
        rate = failed / total
        if total >= settings.alert_failure_min_tasks and rate > settings.alert_failure_rate:
            message = (
                f"{name}: {failed} of {total} tasks failed in {settings.alert_window_minutes:g} min"
            )
            found.append(
                Condition(
                    "failure_rate", name, round(rate, 4), settings.alert_failure_rate, message
                )
            )
    return found


def backlogs(view: PlatformView, settings: GatewayOpsSettings) -> list[Condition]:
    limit = settings.alert_queue_backlog
    return [
        Condition(
            "queue_backlog",
            q["name"],
            q["depth"],
            limit,
            f"{q['name']} holds {q['depth']} messages",
        )
        for q in view.queues()
        if q["depth"] is not None and q["depth"] > limit
    ]


def silent_workers(view: PlatformView, settings: GatewayOpsSettings) -> list[Condition]:
    recent = utcnow().timestamp() - timedelta(days=1).total_seconds()
    limit = settings.worker_heartbeat_max_age
    return [
        Condition(
            "worker_down",
            w["hostname"],
            round(utcnow().timestamp() - seen, 1),
            limit,
            f"{w['hostname']} ({w['service']}) has not been heard from for {utcnow().timestamp() - seen:.0f}s",
        )
        for w in view.workers()
        if not w["online"]
        and (seen := max(w["last_heartbeat"] or 0, w["last_consumed"] or 0)) > recent
    ]


RULES = (failure_rates, backlogs, silent_workers)


def evaluate(
    view: PlatformView, settings: GatewayOpsSettings, runtime: ServiceRuntime
) -> dict[str, int]:
    """Raise what newly holds, resolve what stopped holding; returns how many of each."""
    now = {c.alert_id: c for rule in RULES for c in rule(view, settings)}
    with runtime.uow(MessageContext.new("alerts")) as uow:
        active = {
            a.id: a
            for a in uow.session.scalars(select(AlertRecord).where(AlertRecord.state == "raised"))
        }
        for alert_id in now.keys() - active.keys():
            _raise(uow, now[alert_id])
        for alert_id in active.keys() - now.keys():
            _resolve(uow, active[alert_id])
        uow.commit()
    return {"raised": len(now.keys() - active.keys()), "resolved": len(active.keys() - now.keys())}


def _raise(uow: Any, condition: Condition) -> None:
    row = uow.session.get(AlertRecord, condition.alert_id) or AlertRecord(id=condition.alert_id)
    row.rule, row.subject, row.state = condition.rule, condition.subject, "raised"
    row.message, row.value, row.threshold = condition.message, condition.value, condition.threshold
    row.raised_at, row.resolved_at = utcnow(), None
    uow.session.add(row)
    uow.publish(
        AlertRaised(
            alert_id=row.id,
            rule=row.rule,
            subject=row.subject,
            message=row.message,
            value=row.value,
            threshold=row.threshold,
            raised_at=row.raised_at.isoformat(),
        )
    )


def _resolve(uow: Any, row: AlertRecord) -> None:
    row.state, row.resolved_at = "resolved", utcnow()
    uow.publish(
        AlertResolved(
            alert_id=row.id,
            rule=row.rule,
            subject=row.subject,
            message=row.message,
            raised_at=row.raised_at.isoformat(),
            resolved_at=row.resolved_at.isoformat(),
        )
    )
