"""Monitoring: readiness, services, workers, queues (and purging one, as admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from switchboard_gateway.api.deps import ControlDep, LedgerDep, SettingsDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.auth import AdminOnly
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.monitor import PlatformView

router = APIRouter(tags=["monitoring"])


def platform_view(settings: SettingsDep, control: ControlDep, ledger: LedgerDep) -> PlatformView:
    return PlatformView(settings, control, ledger)


ViewDep = Annotated[PlatformView, Depends(platform_view)]


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "not ready", "missing": ["worker of email"]}]}
    )

    status: str
    missing: list[str]


class QueueView(BaseModel):
    name: str
    service: str
    depth: int | None
    last_consumed: float | None
    consumed_recently: bool


class WorkerView(BaseModel):
    hostname: str
    service: str
    online: bool
    last_heartbeat: float | None
    last_consumed: float | None
    active: int
    processed: int
    loadavg: list[float] | None
    software: str | None


class ServiceView(BaseModel):
    name: str
    status: str
    workers_online: int
    workers: list[str]
    last_heartbeat: float | None
    queues: list[QueueView]
    active_tasks: int
    success_rate: float | None
    flower_url: str | None


class Services(BaseModel):
    items: list[ServiceView]


class Workers(BaseModel):
    items: list[WorkerView]


class Queues(BaseModel):
    items: list[QueueView]


class Purged(BaseModel):
    queue: str
    purged: int


@router.get(
    "/health/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "What is missing"}},
    summary="Ready when the broker, the gateway database and a worker of every service are up",
)
def ready(view: ViewDep) -> Any:
    state = view.readiness()
    return JSONResponse(state, status_code=200 if not state["missing"] else 503)


@router.get("/services", response_model=Services, summary="Every service at a glance")
def services(
    view: ViewDep, hours: float = Query(24.0, gt=0, le=24 * 90, description="success-rate window")
) -> dict[str, Any]:
    return {"items": view.services(hours)}


@router.get("/workers", response_model=Workers, summary="Workers by heartbeat and liveness")
def workers(view: ViewDep) -> dict[str, Any]:
    return {"items": view.workers()}


@router.get("/queues", response_model=Queues, summary="Every queue with its depth")
def queues(view: ViewDep) -> dict[str, Any]:
    return {"items": view.queues()}


@router.post(
    "/queues/{name}/purge",
    response_model=Purged,
    dependencies=[AdminOnly],
    openapi_extra=audited("queue.purge"),
    responses={404: {"model": ErrorResponse}, 403: {"model": ErrorResponse}},
    summary="Drop every message waiting in a queue (admin)",
)
def purge(name: str, settings: SettingsDep, control: ControlDep) -> dict[str, Any]:
    if not any(name in queues for queues in settings.services.values()):
        raise HTTPException(404, detail=f"No queue {name}")
    return {"queue": name, "purged": control.purge(name)}
