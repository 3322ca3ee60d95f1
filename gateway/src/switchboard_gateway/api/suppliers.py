"""Suppliers: registered with and listed by the orders service (a command and a query)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field
from switchboard_shared.contracts.orders import CreateSupplier, ListSuppliers

from switchboard_gateway.api.calls import call_service
from switchboard_gateway.api.deps import MAX_OFFSET, CorrelationIdDep, SenderDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.errors import ErrorResponse

router = APIRouter(prefix="/suppliers", tags=["suppliers"])
EXAMPLE: dict[str, Any] = {
    "name": "Acme Machining",
    "categories": ["cnc-machining"],
    "region": "eu-west",
    "capacity": 100,
}


class SupplierRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: str = Field(min_length=1, max_length=200)
    categories: list[str] = Field(min_length=1, max_length=50)
    region: str = Field(min_length=1, max_length=64)
    capacity: int = Field(gt=0, le=1_000_000)
    rating: float = Field(default=4.0, ge=0, le=5)


class SupplierCreated(BaseModel):
    supplier_id: str


ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
    504: {"model": ErrorResponse},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SupplierCreated,
    summary="Register a supplier",
    responses=ERRORS,
    openapi_extra=audited("supplier.create"),
)
def create_supplier(
    body: SupplierRequest, sender: SenderDep, correlation_id: CorrelationIdDep
) -> SupplierCreated:
    command = CreateSupplier(supplier_id=f"sup_{uuid.uuid4().hex[:16]}", **body.model_dump())
    result = call_service(sender, command, correlation_id)
    return SupplierCreated(supplier_id=result["supplier_id"])


@router.get("", summary="List suppliers", responses=ERRORS)
def list_suppliers(
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
    category: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    result = call_service(
        sender, ListSuppliers(category=category, limit=limit, offset=offset), correlation_id
    )
    return {"items": result["items"], "total": result["total"], "limit": limit, "offset": offset}
