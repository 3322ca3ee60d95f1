"""Orders: accept an order and hand `orders.create` to the orders service."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from switchboard_shared.contracts.orders import CreateOrder, Customer, OrderItem

from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.sender import BrokerUnavailable

router = APIRouter(prefix="/orders", tags=["orders"])

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


class OrderAccepted(BaseModel):
    order_id: str
    task_id: str
    status_url: str


def new_order_id() -> str:
    return f"ord_{uuid.uuid4().hex}"


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OrderAccepted,
    summary="Place an order",
    responses={
        401: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def create_order(
    body: CreateOrderRequest, sender: SenderDep, correlation_id: CorrelationIdDep
) -> OrderAccepted:
    command = CreateOrder(order_id=new_order_id(), **body.model_dump())
    try:
        task_id = sender.send(command, correlation_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    return OrderAccepted(
        order_id=command.order_id, task_id=task_id, status_url=f"/api/v1/tasks/{task_id}"
    )
