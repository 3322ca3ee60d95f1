"""Outbound webhook endpoints: registered here (URL checked by the SSRF guard), kept and
served by the integrations service, asked through commands (ADR 0021)."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator
from switchboard_shared.contracts import EVENTS, Command
from switchboard_shared.contracts.integrations import (
    DELIVERY_ID,
    ENDPOINT_ID,
    NOT_DELIVERABLE,
    ListWebhookDeliveries,
    RegisterWebhookEndpoint,
    ReplayWebhookDelivery,
)
from switchboard_shared.netguard import WEB_PORTS, AddressPolicy, UnsafeDestination, check_url

from switchboard_gateway.api.calls import call_service
from switchboard_gateway.api.deps import MAX_OFFSET, CorrelationIdDep, SenderDep, SettingsDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.errors import ErrorResponse

router = APIRouter(prefix="/webhook-endpoints", tags=["webhook endpoints"])
EXAMPLE: dict[str, Any] = {
    "url": "https://hooks.example.com/switchboard",
    "events": ["order-matched"],
}
ERROR_MEANINGS = {
    404: "No such webhook endpoint or delivery",
    409: "The delivery cannot be replayed now",
    422: "Invalid request",
    502: "The integrations service gave no usable answer",
    503: "The broker is unavailable",
    504: "The integrations service did not answer in time",
}
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": meaning}
    for code, meaning in ERROR_MEANINGS.items()
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


def refuse_unsafe_url(url: str, allow_private: bool, extra_ports: Iterable[int] = ()) -> None:
    """A 422 naming `url` for what the worker would refuse at delivery: an internal address,
    or a port other than 80, 443 and the deploy's `extra_ports`."""
    policy = AddressPolicy(allow_private=allow_private, allowed_ports=WEB_PORTS | set(extra_ports))
    try:
        check_url(url, policy)
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
    openapi_extra=audited("webhook_endpoint.create"),
)
def create_endpoint(
    body: EndpointRequest,
    sender: SenderDep,
    settings: SettingsDep,
    correlation_id: CorrelationIdDep,
) -> EndpointCreated:
    refuse_unsafe_url(body.url, settings.allow_private_webhooks, settings.webhook_allowed_ports)
    command = RegisterWebhookEndpoint(
        endpoint_id=f"ep_{secrets.token_hex(12)}",
        url=body.url,
        events=body.events,
        secret=new_secret(),
    )
    call_service(sender, command, correlation_id)
    return EndpointCreated(endpoint_id=command.endpoint_id, secret=command.secret)


def require_format(value: str, pattern: str, not_found: str) -> None:
    """An id the gateway and the service never make cannot exist: 404 without asking."""
    if not re.fullmatch(pattern, value):
        raise HTTPException(404, detail=not_found)


def ask_integrations(
    sender: SenderDep, query: Command, correlation_id: str, not_found: str
) -> dict[str, Any]:
    """The service's answer (503/504 when it has none), 404 when it does not know the id."""
    answer = call_service(sender, query, correlation_id)
    if not isinstance(answer, dict):
        raise HTTPException(502, detail=f"{query.task_name} gave no usable answer")
    if not answer.get("found"):
        raise HTTPException(404, detail=not_found)
    return answer


@router.get(
    "/{endpoint_id}/deliveries", summary="Delivery attempts, newest first", responses=ERRORS
)
def list_deliveries(
    endpoint_id: str,
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    not_found = f"No webhook endpoint {endpoint_id}"
    require_format(endpoint_id, ENDPOINT_ID, not_found)
    query = ListWebhookDeliveries(endpoint_id=endpoint_id, limit=limit, offset=offset)
    result = ask_integrations(sender, query, correlation_id, not_found)
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
    openapi_extra=audited("webhook_delivery.replay"),
)
def replay_delivery(
    endpoint_id: str, delivery_id: str, sender: SenderDep, correlation_id: CorrelationIdDep
) -> dict[str, Any]:
    not_found = f"No delivery {delivery_id} of endpoint {endpoint_id}"
    require_format(endpoint_id, ENDPOINT_ID, not_found)
    require_format(delivery_id, DELIVERY_ID, not_found)
    command = ReplayWebhookDelivery(endpoint_id=endpoint_id, delivery_id=delivery_id)
    result = ask_integrations(sender, command, correlation_id, not_found)
    if not result.get("replayed"):
        raise HTTPException(409, detail=f"Not replayed: {result.get('reason')}")
    return {"delivery_id": delivery_id, "status": "pending"}
