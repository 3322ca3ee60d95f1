"""`/api/v1`: health is public; everything else requires an API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from switchboard_gateway.api import events, health, orders, reports, suppliers
from switchboard_gateway.auth import require_api_key

PREFIX = "/api/v1"


def build_v1_router() -> APIRouter:
    public = APIRouter()
    public.include_router(health.router)
    protected = APIRouter(dependencies=[Depends(require_api_key)])
    protected.include_router(orders.router)
    protected.include_router(suppliers.router)
    protected.include_router(events.router)
    protected.include_router(reports.router)
    v1 = APIRouter(prefix=PREFIX)
    v1.include_router(public)
    v1.include_router(protected)
    return v1
