"""The event log: every event of every service, as the gateway received it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from switchboard_gateway.api.deps import MAX_OFFSET, StoreDep
from switchboard_gateway.auth import MaskPersonalDep
from switchboard_gateway.store import event_json

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", summary="The event log, filtered by correlation id and type")
def list_events(
    store: StoreDep,
    mask_personal: MaskPersonalDep,
    correlation_id: str | None = None,
    type: str | None = Query(None, description="an event type such as order-created"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    rows, total = store.events(
        correlation_id=correlation_id, event_type=type, limit=limit, offset=offset
    )
    return {
        "items": [event_json(r, mask_personal) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }
