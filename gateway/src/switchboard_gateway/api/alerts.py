"""Alerts: those active now (or resolved ones, on request)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from switchboard_gateway.api.deps import LedgerDep
from switchboard_gateway.ledger.models import AlertRecord
from switchboard_gateway.ledger.queries import aware

router = APIRouter(prefix="/alerts", tags=["monitoring"])


class AlertView(BaseModel):
    id: str
    rule: Literal["failure_rate", "queue_backlog", "worker_down"]
    subject: str
    state: Literal["raised", "resolved"]
    message: str
    value: float
    threshold: float
    raised_at: str
    resolved_at: str | None


class AlertList(BaseModel):
    items: list[AlertView]
    total: int


def alert_json(row: AlertRecord) -> dict[str, Any]:
    resolved = aware(row.resolved_at)
    return {
        "id": row.id,
        "rule": row.rule,
        "subject": row.subject,
        "state": row.state,
        "message": row.message,
        "value": row.value,
        "threshold": row.threshold,
        "raised_at": (aware(row.raised_at) or row.raised_at).isoformat(),
        "resolved_at": resolved.isoformat() if resolved else None,
    }


@router.get(
    "", response_model=AlertList, summary="Active alerts (failure rate, backlog, worker down)"
)
def list_alerts(
    ledger: LedgerDep,
    state: Literal["raised", "resolved", "all"] = Query("raised", description="raised = active"),
) -> dict[str, Any]:
    query = select(AlertRecord).order_by(AlertRecord.raised_at.desc())
    if state != "all":
        query = query.where(AlertRecord.state == state)
    with ledger.session_factory() as session:
        items = [alert_json(row) for row in session.scalars(query.limit(1000))]
    return {"items": items, "total": len(items)}
