"""`/api/v1`: health is public; everything else requires an API key."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from switchboard_gateway.api import (
    alerts,
    analytics,
    catalog,
    deadletters,
    emails,
    events,
    health,
    monitoring,
    orders,
    reports,
    sms,
    submit,
    suppliers,
    tasks,
    webhook_endpoints,
    webhooks_inbound,
)
from switchboard_gateway.auth import require_api_key

PREFIX = "/api/v1"


def build_v1_router() -> APIRouter:
    public = APIRouter()
    public.include_router(health.router)
    protected = APIRouter(dependencies=[Depends(require_api_key)])
    protected.include_router(orders.router)
    protected.include_router(suppliers.router)
    protected.include_router(catalog.router)
    protected.include_router(events.router)
    protected.include_router(alerts.router)
    protected.include_router(analytics.router)
    protected.include_router(deadletters.router)
    protected.include_router(emails.router)
    protected.include_router(monitoring.router)
    protected.include_router(reports.router)
    protected.include_router(sms.router)
    protected.include_router(submit.router)
    protected.include_router(tasks.router)
    protected.include_router(webhook_endpoints.router)
    protected.include_router(webhooks_inbound.router)
    v1 = APIRouter(prefix=PREFIX)
    v1.include_router(public)
    v1.include_router(protected)
    return v1
