"""The inbound webhook ledger: every provider call as it arrived, and handing one on again."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel

from switchboard_gateway.api.deps import MAX_OFFSET, StoreDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.auth import AdminOnly, MaskPersonalDep
from switchboard_gateway.disclosure import shown_provider_body
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.webhook_ledger import (
    NotReprocessable,
    get_inbound,
    inbound_json,
    list_inbound,
    list_refused,
    refused_json,
    reprocess,
)

router = APIRouter(prefix="/webhooks/inbound", tags=["provider webhooks"])


class InboundSummary(BaseModel):
    id: str
    provider: str
    event_id: str | None
    source_address: str | None
    received_at: str
    valid: bool
    processed: bool
    duplicate: bool
    deliveries: int
    error: str | None


class InboundDetail(InboundSummary):
    headers: dict[str, Any]
    body: str
    traceback: str | None


class InboundList(BaseModel):
    items: list[InboundSummary]
    total: int
    limit: int
    offset: int


class RefusedCall(BaseModel):
    id: int
    provider: str
    source_address: str | None
    size: int
    reason: str
    received_at: str


class RefusedList(BaseModel):
    items: list[RefusedCall]
    total: int
    limit: int
    offset: int


@router.get("", response_model=InboundList, summary="Provider calls, newest first")
def list_inbound_webhooks(
    store: StoreDep,
    provider: str | None = Query(None, max_length=20, examples=["stripe"]),
    valid: bool | None = Query(None, description="only calls whose signature held (or failed)"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    rows, total = list_inbound(store, provider, valid, limit, offset)
    return {
        "items": [inbound_json(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/refused",
    response_model=RefusedList,
    summary="Provider calls whose signature failed, newest first (metadata only, the newest kept)",
)
def list_refused_webhooks(
    store: StoreDep,
    provider: str | None = Query(None, max_length=20, examples=["stripe"]),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    rows, total = list_refused(store, provider, limit, offset)
    return {
        "items": [refused_json(r) for r in rows],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get(
    "/{webhook_id}",
    response_model=InboundDetail,
    responses={404: {"model": ErrorResponse}},
    summary="One provider call, raw",
)
def get_inbound_webhook(
    webhook_id: str, store: StoreDep, mask_personal: MaskPersonalDep
) -> dict[str, Any]:
    row = get_inbound(store, webhook_id)
    if row is None:
        raise HTTPException(404, detail=f"No inbound webhook {webhook_id}")
    detail = inbound_json(row, full=True)
    detail["body"] = shown_provider_body(row.provider, row.body, mask_personal)
    return detail


@router.post(
    "/{webhook_id}/reprocess",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=InboundSummary,
    dependencies=[AdminOnly],
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
    summary="Hand a stored call on again as its event (admin)",
    openapi_extra=audited("inbound_webhook.reprocess"),
)
def reprocess_inbound_webhook(webhook_id: str, store: StoreDep) -> dict[str, Any]:
    try:
        row = reprocess(store, webhook_id)
    except NotReprocessable as exc:
        raise HTTPException(409, detail=f"Cannot hand on {exc}") from exc
    if row is None:
        raise HTTPException(404, detail=f"No inbound webhook {webhook_id}")
    return inbound_json(row)
