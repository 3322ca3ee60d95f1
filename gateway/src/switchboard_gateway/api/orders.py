"""Orders: accept an order and hand `orders.create` to the orders service."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError
from switchboard_shared.contracts.orders import (
    CancelOrder,
    CreateOrder,
    Customer,
    OrderItem,
    order_total,
    total_within_limit,
)

from switchboard_gateway.api.deps import SenderDep, StoreDep
from switchboard_gateway.auth import MaskPersonalDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.models import IdempotencyKey
from switchboard_gateway.sender import BrokerUnavailable
from switchboard_gateway.store import GatewayStore, IdempotencyConflict, event_json

log = logging.getLogger("switchboard.gateway.orders")
router = APIRouter(prefix="/orders", tags=["orders"])
# Printable ASCII without spaces; scoped to its caller it still fits the 255-character column.
IDEMPOTENCY_KEY = r"^[\x21-\x7e]+$"
MAX_IDEMPOTENCY_KEY = 200

ORDER_EXAMPLE: dict[str, Any] = {
    "customer": {"email": "ada@example.com", "phone": "+15555550100"},
    "category": "cnc-machining",
    "region": "eu-west",
    "items": [{"sku": "bracket-al-6061", "quantity": 3, "unit_amount": 1250}],
    "currency": "usd",
    "payment_method": "pm_card_visa",
}


class CreateOrderRequest(BaseModel):
    """The `orders.create` command without `order_id`, which the gateway assigns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ORDER_EXAMPLE]})

    customer: Customer
    category: str = Field(min_length=1, max_length=64)
    region: str = Field(min_length=1, max_length=64)
    items: list[OrderItem] = Field(min_length=1, max_length=500)
    currency: str = Field(pattern=r"^[a-z]{3}$", description="ISO 4217, lower case")
    payment_method: str = Field(default="pm_card_visa", min_length=1, max_length=128)

    _total = field_validator("items")(total_within_limit)


class OrderAccepted(BaseModel):
    order_id: str
    task_id: str
    status_url: str


class OrderStatus(BaseModel):
    order_id: str
    status: str
    amount: int
    currency: str
    supplier_id: str | None
    payment_id: str | None
    failure_reason: str | None
    task_id: str | None
    timeline: list[dict[str, Any]]


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="requested_by_customer", max_length=200)


class CancelAccepted(BaseModel):
    order_id: str
    task_id: str
    status_url: str


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


def body_fingerprint(body: CreateOrderRequest) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scoped_key(request: Request, key: str) -> str:
    """Keys are per client: the same key from two API keys names two different orders."""
    caller = hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()[:16]
    return f"{caller}:{key}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    summary="Place an order",
    responses={
        401: {"model": ErrorResponse},
        409: {"model": ErrorResponse, "description": "Idempotency-Key reused with another body"},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def create_order(
    body: CreateOrderRequest,
    request: Request,
    sender: SenderDep,
    store: StoreDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=MAX_IDEMPOTENCY_KEY,
            pattern=IDEMPOTENCY_KEY,
            description="Up to 200 printable ASCII characters, no spaces",
        ),
    ] = None,
) -> OrderAccepted:
    order_id, task_id = new_order_id(), str(uuid.uuid4())
    if idempotency_key:
        earlier = _claim(store, scoped_key(request, idempotency_key), body, order_id, task_id)
        if earlier is not None:
            if store.order(earlier.order_id) is not None:  # sent before: the same answer
                return _accepted(earlier.order_id, earlier.task_id)
            # Claimed, but no send was confirmed (or it is in flight): send the same order
            # again. The orders service creates an order once per id, so a retry after a 503
            # makes exactly one order, even if the broker took the first send after all.
            order_id, task_id = earlier.order_id, earlier.task_id
    command = CreateOrder(order_id=order_id, **body.model_dump())
    # The order id is the flow's correlation id: every event of this order carries it. A send
    # the broker did not confirm raises BrokerUnavailable: a 503 with Retry-After.
    sender.send(command, command.order_id, task_id=task_id)
    _record_view(store, command, task_id)
    return _accepted(command.order_id, task_id)


def _claim(
    store: GatewayStore, key: str, body: CreateOrderRequest, order_id: str, task_id: str
) -> IdempotencyKey | None:
    """Claim `key` for a new order; the earlier claim when the key was used with this body."""
    try:
        return store.claim_idempotency_key(key, body_fingerprint(body), order_id, task_id)
    except IdempotencyConflict as exc:
        raise HTTPException(409, detail="Idempotency-Key was used with a different body") from exc


def _record_view(store: GatewayStore, command: CreateOrder, task_id: str) -> None:
    """Written after the send, so the order's processing does not wait for it (and a refused
    send leaves no view behind). The order is on its way: if this write fails, its events
    still build the view."""
    try:
        store.order_submitted(
            command.order_id, task_id, order_total(command.items), command.currency
        )
    except SQLAlchemyError:
        log.exception("order %s sent, but its view could not be written", command.order_id)


def _accepted(order_id: str, task_id: str) -> OrderAccepted:
    return OrderAccepted(order_id=order_id, task_id=task_id, status_url=f"/api/v1/tasks/{task_id}")


@router.get(
    "/{order_id}",
    response_model=OrderStatus,
    summary="An order and its timeline",
    responses={404: {"model": ErrorResponse}},
)
def get_order(order_id: str, store: StoreDep, mask_personal: MaskPersonalDep) -> OrderStatus:
    view = store.order(order_id)
    if view is None:
        raise HTTPException(404, detail=f"No order {order_id}")
    timeline, _ = store.events(correlation_id=order_id, limit=1000)
    return OrderStatus(
        order_id=view.order_id,
        status=view.status,
        amount=view.amount,
        currency=view.currency,
        supplier_id=view.supplier_id,
        payment_id=view.payment_id,
        failure_reason=view.failure_reason,
        task_id=view.task_id,
        timeline=[event_json(entry, mask_personal) for entry in timeline],
    )


@router.post(
    "/{order_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CancelAccepted,
    summary="Cancel an order (refunds when paid)",
    responses={404: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def cancel_order(
    order_id: str, store: StoreDep, sender: SenderDep, body: CancelRequest | None = None
) -> CancelAccepted:
    if store.order(order_id) is None:
        raise HTTPException(404, detail=f"No order {order_id}")
    command = CancelOrder(order_id=order_id, reason=(body or CancelRequest()).reason)
    try:
        task_id = sender.send(command, order_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    return CancelAccepted(order_id=order_id, task_id=task_id, status_url=f"/api/v1/tasks/{task_id}")
