"""Submit any command of the contract catalog by name: `POST /api/v1/tasks` {"name", "args"}.

The generic door behind `switchboard submit` (seed 000's `tasks test`): the args are
validated against the command's contract model, so a bad one never reaches a queue.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from switchboard_shared.contracts import Command
from switchboard_shared.contracts.catalog import COMMANDS

from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.sender import BrokerUnavailable

router = APIRouter(prefix="/tasks", tags=["tasks"])

SUBMIT_EXAMPLE: dict[str, Any] = {
    "name": "email.send",
    "args": {"to": "ops@example.com", "subject": "Test", "text": "It works."},
}


class SubmitTask(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SUBMIT_EXAMPLE]})

    name: str = Field(min_length=1, max_length=200, description="a command name, e.g. email.send")
    args: dict[str, Any] = Field(
        default_factory=dict, description="the command's fields (its contract model)"
    )


class TaskAccepted(BaseModel):
    task_id: str
    name: str
    queue: str
    status_url: str


def build_command(body: SubmitTask) -> Command:
    """The command model for `body`, or a 422 naming `name` or each bad `args.<field>`."""
    model = COMMANDS.get(body.name)
    if model is None:
        known = ", ".join(sorted(COMMANDS))
        raise RequestValidationError(
            [{"loc": ("body", "name"), "msg": f"unknown command; one of: {known}", "type": "enum"}]
        )
    try:
        return model.model_validate(body.args)
    except ValidationError as exc:
        errors = [
            {"loc": ("body", "args", *error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        raise RequestValidationError(errors) from None


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    summary="Submit a command of the contract catalog by name",
    responses={
        401: {"model": ErrorResponse},
        422: {"model": ErrorResponse, "description": "unknown name or args not of its contract"},
        503: {"model": ErrorResponse},
    },
)
def submit_task(body: SubmitTask, sender: SenderDep, correlation_id: CorrelationIdDep) -> Any:
    command = build_command(body)
    task_id = str(uuid.uuid4())
    try:
        sender.send(command, correlation_id, task_id=task_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    return TaskAccepted(
        task_id=task_id,
        name=command.task_name,
        queue=command.queue,
        status_url=f"/api/v1/tasks/{task_id}",
    )
