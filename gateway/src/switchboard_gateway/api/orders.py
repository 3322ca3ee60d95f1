"""Orders: accept an order and hand `orders.create` to the orders service."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.exc import SQLAlchemyError
from switchboard_shared.contracts.orders import CancelOrder, CreateOrder, Customer, OrderItem

from switchboard_gateway.api.deps import SenderDep, StoreDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.sender import BrokerUnavailable
from switchboard_gateway.store import IdempotencyConflict, event_json

log = logging.getLogger("switchboard.gateway.orders")
router = APIRouter(prefix="/orders", tags=["orders"])
MAX_ORDER_AMOUNT = 99_999_999

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

    @model_validator(mode="after")
    def _total_within_limit(self) -> CreateOrderRequest:
        # Stripe's own ceiling; it also keeps the total inside a 32-bit database integer.
        if sum(item.quantity * item.unit_amount for item in self.items) > MAX_ORDER_AMOUNT:
            raise ValueError(f"the order total must be at most {MAX_ORDER_AMOUNT} minor units")
        return self


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
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
) -> OrderAccepted:
    command = CreateOrder(order_id=new_order_id(), **body.model_dump())
    task_id = str(uuid.uuid4())
    key = scoped_key(request, idempotency_key) if idempotency_key else None
    if key is not None:
        try:
            earlier = store.claim_idempotency_key(
                key, body_fingerprint(body), command.order_id, task_id
            )
        except IdempotencyConflict as exc:
            raise HTTPException(
                409, detail="Idempotency-Key was used with a different body"
            ) from exc
        if earlier is not None:
            return _accepted(earlier.order_id, earlier.task_id)
    try:
        # The order id is the flow's correlation id: every event of this order carries it.
        sender.send(command, command.order_id, task_id=task_id)
    except BrokerUnavailable as exc:
        if key is not None:
            store.release_idempotency_key(key)
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    # Written after the send, so the order's processing does not wait for it (and a refused
    # send leaves no view behind). The order is on its way: if this write fails, its events
    # still build the view.
    amount = sum(item.quantity * item.unit_amount for item in command.items)
    try:
        store.order_submitted(command.order_id, task_id, amount, command.currency)
    except SQLAlchemyError:
        log.exception("order %s sent, but its view could not be written", command.order_id)
    return _accepted(command.order_id, task_id)


def _accepted(order_id: str, task_id: str) -> OrderAccepted:
    return OrderAccepted(order_id=order_id, task_id=task_id, status_url=f"/api/v1/tasks/{task_id}")


@router.get(
    "/{order_id}",
    response_model=OrderStatus,
    summary="An order and its timeline",
    responses={404: {"model": ErrorResponse}},
)
def get_order(order_id: str, store: StoreDep) -> OrderStatus:
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
        timeline=[event_json(entry) for entry in timeline],
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
