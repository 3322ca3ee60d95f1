"""`/api/v1`: health is public; everything else requires an API key."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from switchboard_gateway.api import (
    alerts,
    analytics,
    audit,
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


# Order is matching order: a request is tried against routes one by one, router by router, so
# the hot read (a task's status) comes first.
PROTECTED = (
    tasks.router,
    orders.router,
    suppliers.router,
    catalog.router,
    events.router,
    alerts.router,
    analytics.router,
    deadletters.router,
    emails.router,
    monitoring.router,
    reports.router,
    sms.router,
    submit.router,
    webhook_endpoints.router,
    webhooks_inbound.router,
    audit.router,
)


def include_v1(app: FastAPI) -> None:
    """Each router straight onto the app under `/api/v1`: nested include levels each cost a
    matching pass per request."""
    app.include_router(health.router, prefix=PREFIX)
    for router in PROTECTED:
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(require_api_key)])
