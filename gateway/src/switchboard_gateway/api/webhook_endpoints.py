"""Outbound webhook endpoints: registered here (URL checked by the SSRF guard), kept and
served by the integrations service, asked through commands (ADR 0021)."""

from __future__ import annotations

import base64
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from switchboard_shared.contracts import EVENTS
from switchboard_shared.contracts.integrations import (
    NOT_DELIVERABLE,
    ListWebhookDeliveries,
    RegisterWebhookEndpoint,
    ReplayWebhookDelivery,
)
from switchboard_shared.netguard import AddressPolicy, UnsafeDestination, check_url

from switchboard_gateway.api.calls import call_service
from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep, SettingsDep
from switchboard_gateway.errors import ErrorResponse

router = APIRouter(prefix="/webhook-endpoints", tags=["webhook endpoints"])
EXAMPLE: dict[str, Any] = {
    "url": "https://hooks.example.com/switchboard",
    "events": ["order-matched"],
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (404, 409, 422, 503, 504)
}


def deliverable_events() -> list[str]:
    return sorted(kind for kind in EVENTS if kind not in NOT_DELIVERABLE)


class EndpointRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    url: str = Field(min_length=8, max_length=2000, description="http(s) URL of a public host")
    events: list[str] = Field(min_length=1, max_length=100)

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: list[str]) -> list[str]:
        unknown = [kind for kind in events if kind not in deliverable_events()]
        if unknown:
            raise ValueError(
                f"unknown or undeliverable event types {unknown}; one of {deliverable_events()}"
            )
        return events


class EndpointCreated(BaseModel):
    endpoint_id: str
    secret: str = Field(description="`whsec_<base64>`: verify each delivery's signature with it")


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def refuse_unsafe_url(url: str, allow_private: bool) -> None:
    try:
        check_url(url, AddressPolicy(allow_private=allow_private))
    except UnsafeDestination as exc:
        raise RequestValidationError(
            [{"loc": ("body", "url"), "msg": f"URL refused: {exc}", "type": "unsafe_url"}]
        ) from exc


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointCreated,
    summary="Register a webhook endpoint",
    responses=ERRORS,
)
def create_endpoint(
    body: EndpointRequest,
    sender: SenderDep,
    settings: SettingsDep,
    correlation_id: CorrelationIdDep,
) -> EndpointCreated:
    refuse_unsafe_url(body.url, settings.allow_private_webhooks)
    command = RegisterWebhookEndpoint(
        endpoint_id=f"ep_{secrets.token_hex(12)}",
        url=body.url,
        events=body.events,
        secret=new_secret(),
    )
    result = call_service(sender, command, correlation_id)
    return EndpointCreated(endpoint_id=result["endpoint_id"], secret=command.secret)


@router.get(
    "/{endpoint_id}/deliveries", summary="Delivery attempts, newest first", responses=ERRORS
)
def list_deliveries(
    endpoint_id: str,
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    query = ListWebhookDeliveries(endpoint_id=endpoint_id, limit=limit, offset=offset)
    result = call_service(sender, query, correlation_id)
    if not result.get("found"):
        raise HTTPException(404, detail=f"No webhook endpoint {endpoint_id}")
    return {
        "items": result["items"],
        "total": result["total"],
        "limit": limit,
        "offset": offset,
        "endpoint_status": result["endpoint_status"],
    }


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again (same webhook-id, fresh timestamp and signature)",
    responses=ERRORS,
)
def replay_delivery(
    endpoint_id: str, delivery_id: str, sender: SenderDep, correlation_id: CorrelationIdDep
) -> dict[str, Any]:
    command = ReplayWebhookDelivery(endpoint_id=endpoint_id, delivery_id=delivery_id)
    result = call_service(sender, command, correlation_id)
    if not result.get("found"):
        raise HTTPException(404, detail=f"No delivery {delivery_id} of endpoint {endpoint_id}")
    if not result.get("replayed"):
        raise HTTPException(409, detail=f"Not replayed: {result.get('reason')}")
    return {"delivery_id": delivery_id, "status": "pending"}
