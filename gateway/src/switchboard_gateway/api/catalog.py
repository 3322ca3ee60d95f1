"""The event catalog: every event type with producer, subscribers, version and JSON Schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from switchboard_gateway.api.deps import SettingsDep
from switchboard_gateway.catalog import asyncapi, catalog, subscriptions
from switchboard_gateway.monitor import shared_redis

router = APIRouter(prefix="/events", tags=["events"])


class Catalog(BaseModel):
    items: list[dict[str, Any]]
    total: int


def _announced(settings: SettingsDep) -> dict[str, list[str]]:
    return subscriptions(shared_redis(settings.effective_redis_url), list(settings.services))


@router.get(
    "/catalog",
    response_model=Catalog,
    summary="Every event type: producer, subscribers, version, JSON Schema",
)
def event_catalog(settings: SettingsDep) -> dict[str, Any]:
    items = catalog(_announced(settings))
    return {"items": items, "total": len(items)}


@router.get("/asyncapi.json", summary="The event catalog as an AsyncAPI 3.0 document")
def asyncapi_document(settings: SettingsDep, request: Request) -> dict[str, Any]:
    return asyncapi(_announced(settings), request.app.version)
