"""`GET /api/v1/audit`: the admin actions taken (or refused), newest first; admin keys only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from switchboard_gateway.api.deps import MAX_OFFSET, StoreDep
from switchboard_gateway.audit.log import AuditFilter, entries, entry_json
from switchboard_gateway.auth import AdminOnly
from switchboard_gateway.errors import ErrorResponse

router = APIRouter(tags=["audit"])


class AuditItem(BaseModel):
    id: str
    at: str
    key_id: str
    role: str
    action: str
    method: str
    target: str
    outcome: str
    status: int
    correlation_id: str | None


class AuditList(BaseModel):
    items: list[AuditItem]
    limit: int
    offset: int


@router.get(
    "/audit",
    response_model=AuditList,
    dependencies=[AdminOnly],
    responses={403: {"model": ErrorResponse}},
    summary="Admin actions: purge, replay, cancel, delete and other key-protected changes",
)
def audit_log(
    store: StoreDep,
    action: str | None = Query(None, max_length=60, examples=["queue.purge"]),
    key_id: str | None = Query(None, max_length=40, description="an API key's id (`key_…`)"),
    outcome: Literal["succeeded", "refused", "not_found", "failed"] | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601: 2026-12-01T00:00:00Z")] = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    where = AuditFilter(action, key_id, outcome, since)
    rows = entries(store, where, limit, offset)
    return {"items": [entry_json(row) for row in rows], "limit": limit, "offset": offset}
