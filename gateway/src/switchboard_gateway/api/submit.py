"""Submitting any command by name (seed 000's `tasks test`): validated against its contract."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from switchboard_shared.contracts import COMMANDS, Command
from switchboard_shared.contracts.ops import Diagnose, for_service

from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep, SettingsDep
from switchboard_gateway.config import GatewaySettings, default_queue
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.sender import BrokerUnavailable

router = APIRouter(prefix="/tasks", tags=["tasks"])
EXAMPLE: dict[str, Any] = {"name": "orders.diagnose", "args": {"seconds": 2, "steps": 4}}


class SubmitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: str = Field(min_length=3, max_length=200, description="a command such as orders.create")
    args: dict[str, Any] = Field(default_factory=dict, description="the command's payload")


class TaskAccepted(BaseModel):
    task_id: str
    status_url: str


def submittable(settings: GatewaySettings) -> dict[str, type[Command]]:
    """Every contract command, plus each configured service's `diagnose`."""
    diagnostics = {
        f"{service}.{Diagnose.verb}": for_service(Diagnose, service, default_queue(queues))
        for service, queues in settings.services.items()
    }
    return {**COMMANDS, **diagnostics}


def build_command(body: SubmitRequest, settings: GatewaySettings) -> Command:
    """The command named, or a 422 naming the field (`name`, or `args.<field>`)."""
    model = submittable(settings).get(body.name)
    if model is None:
        unknown = {"loc": ("body", "name"), "msg": f"unknown command {body.name!r}"}
        raise RequestValidationError([{**unknown, "type": "unknown_command"}])
    try:
        return model.model_validate(body.args)
    except ValidationError as error:
        raise RequestValidationError(
            [
                {"loc": ("body", "args", *e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in error.errors()
            ]
        ) from error


def flow_of(command: Command, correlation_id: str) -> str:
    """A command about an order belongs to that order's flow (its timeline is keyed by its
    id); any other starts the request's own."""
    order_id = getattr(command, "order_id", None)
    return order_id if isinstance(order_id, str) else correlation_id


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskAccepted,
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Submit a command by name, e.g. `orders.diagnose` (seed 000's test task)",
)
def submit_task(
    body: SubmitRequest,
    settings: SettingsDep,
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
) -> TaskAccepted:
    command = build_command(body, settings)
    try:
        task_id = sender.send(command, flow_of(command, correlation_id))
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    return TaskAccepted(task_id=task_id, status_url=f"/api/v1/tasks/{task_id}")
