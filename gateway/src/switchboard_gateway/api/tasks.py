"""The task ledger: one task, lists, counts, and cancel (revoke)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from switchboard_gateway.api.deps import MAX_OFFSET, ControlDep, LedgerDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.auth import AdminOnly
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.ledger.queries import TaskFilter, task_json

router = APIRouter(prefix="/tasks", tags=["tasks"])
TaskState = Literal[
    "pending", "received", "running", "retrying", "succeeded", "failed", "revoked", "dead_lettered"
]
TASK_EXAMPLE: dict[str, Any] = {
    "task_id": "2f1c3a9e-8d1b-4c51-9a55-0c8e3f1f2a10",
    "name": "reports.generate",
    "service": "reports",
    "queue": "reports.interactive",
    "state": "running",
    "progress": 40.0,
    "current_step": "rendering page 2 of 5",
    "result": None,
    "error": None,
    "retries": 0,
    "runtime": None,
    "worker": "reports@host",
    "dead_letter_id": None,
    "created_at": "2026-11-26T11:00:00+00:00",
    "started_at": "2026-11-26T11:00:01+00:00",
    "completed_at": None,
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No task with this id"}
}


class TaskError(BaseModel):
    type: str | None
    message: str | None
    classification: str | None = Field(
        description="validation, timeout, network, provider-4xx, provider-5xx, database, resource, unknown"
    )


class TaskView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [TASK_EXAMPLE]})

    task_id: str
    name: str
    service: str
    queue: str | None
    state: TaskState
    progress: float = Field(ge=0, le=100)
    current_step: str | None
    result: Any = None
    error: TaskError | None
    retries: int
    runtime: float | None = Field(description="seconds, once finished")
    worker: str | None
    dead_letter_id: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class TaskList(BaseModel):
    items: list[TaskView]
    total: int
    limit: int
    offset: int


class TaskCount(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"count": 3, "by_state": {"succeeded": 2, "failed": 1}}]}
    )

    count: int
    by_state: dict[str, int]


class CancelAccepted(BaseModel):
    task_id: str
    status_url: str
    terminate: bool


async def task_filter(
    state: Annotated[TaskState | None, Query(description="only tasks in this state")] = None,
    service: Annotated[str | None, Query(max_length=50, examples=["reports"])] = None,
    name: Annotated[str | None, Query(max_length=200, examples=["reports.generate"])] = None,
    since: Annotated[datetime | None, Query(description="created at or after (RFC 3339)")] = None,
) -> TaskFilter:
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return TaskFilter(state, service, name, since.astimezone(UTC) if since else None)


FilterDep = Annotated[TaskFilter, Depends(task_filter)]


@router.get("", response_model=TaskList, summary="Tasks, newest first, filtered")
def list_tasks(
    ledger: LedgerDep,
    where: FilterDep,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    rows, total = ledger.search(where, limit, offset)
    return {"items": [task_json(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get("/count", response_model=TaskCount, summary="How many tasks match the filters")
def count_tasks(ledger: LedgerDep, where: FilterDep) -> dict[str, Any]:
    by_state = ledger.count_by_state(where)
    return {"count": sum(by_state.values()), "by_state": by_state}


@router.get("/{task_id}", response_model=TaskView, responses=NOT_FOUND, summary="One task")
async def get_task(task_id: str, ledger: LedgerDep) -> JSONResponse:
    row = await ledger.read(task_id)
    if row is None:
        raise HTTPException(404, detail=f"No task {task_id}")
    # task_json builds exactly the TaskView shape (the schema tests hold it to that), so the
    # hottest read skips validating it a second time.
    return JSONResponse(task_json(row))


@router.post(
    "/{task_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CancelAccepted,
    responses={**NOT_FOUND, 403: {"model": ErrorResponse, "description": "Not an admin key"}},
    dependencies=[AdminOnly],
    openapi_extra=audited("task.cancel"),
    summary="Revoke a task; `terminate=true` also stops it when running (admin)",
)
def cancel_task(
    task_id: str, ledger: LedgerDep, control: ControlDep, terminate: bool = False
) -> dict[str, Any]:
    row = ledger.get(task_id)
    if row is None:
        raise HTTPException(404, detail=f"No task {task_id}")
    control.revoke(row.task_id, terminate)
    return {"task_id": row.id, "status_url": f"/api/v1/tasks/{row.id}", "terminate": terminate}
