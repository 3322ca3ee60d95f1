"""Dead letters across services: each service answers for its own store (kit ops commands).

Ids are `<service>:<id>`. The gateway never reads a service's database.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from pydantic import BaseModel
from switchboard_shared.contracts.ops import (
    DeleteDeadLetter,
    GetDeadLetter,
    ListDeadLetters,
    OpsCommand,
    ReplayDeadLetter,
    for_service,
)

from switchboard_gateway.api.deps import CorrelationIdDep, LedgerDep, SenderDep, SettingsDep
from switchboard_gateway.audit.middleware import audited
from switchboard_gateway.auth import AdminOnly, MaskPersonalDep
from switchboard_gateway.config import GatewaySettings, default_queue
from switchboard_gateway.disclosure import shown
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.fanout import answered, gather, ops_threads
from switchboard_gateway.sender import (
    BrokerUnavailable,
    CommandFailed,
    CommandSender,
    CommandTimeout,
)

router = APIRouter(prefix="/dead-letters", tags=["dead letters"])
ANSWER_SECONDS = 5.0
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such dead letter"}
}


class DeadLetterSummary(BaseModel):
    id: str
    service: str
    task_name: str
    task_id: str
    queue: str
    reason: str
    classification: str
    exception_type: str | None
    deliveries: int
    created_at: str
    replayed_at: str | None


class DeadLetterDetail(DeadLetterSummary):
    message: dict[str, Any]
    traceback: str | None


class DeadLetterList(BaseModel):
    items: list[DeadLetterSummary]
    total: int
    limit: int
    offset: int
    unavailable: list[str]


class Replayed(BaseModel):
    dead_letter_id: str
    task_id: str
    status_url: str


def command(
    settings: GatewaySettings, template: type[OpsCommand], service: str, **fields: Any
) -> OpsCommand:
    model = for_service(template, service, default_queue(settings.services[service]))
    return model(**fields)


def ask(sender: SenderDep, cmd: OpsCommand, correlation_id: str) -> Any:
    try:
        return sender.call(cmd, correlation_id, timeout=ANSWER_SECONDS)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    except CommandTimeout as exc:
        raise HTTPException(504, detail=f"{cmd.task_name} did not answer in time") from exc
    except CommandFailed as exc:
        raise HTTPException(502, detail=f"{cmd.task_name} failed: {exc}") from exc


def split_id(letter_id: str, settings: GatewaySettings) -> tuple[str, str]:
    service, _, local = letter_id.partition(":")
    if service not in settings.services or not local:
        raise HTTPException(404, detail=f"No dead letter {letter_id}")
    return service, local


def qualified(letter: dict[str, Any]) -> dict[str, Any]:
    return {**letter, "id": f"{letter['service']}:{letter['id']}"}


def list_calls(
    settings: GatewaySettings,
    sender: CommandSender,
    names: list[str],
    wanted: int,
    correlation_id: str,
) -> dict[str, Callable[[], Any]]:
    """Per service, the blocking ask for its newest `wanted` dead letters."""
    return {
        name: partial(
            sender.call,
            command(settings, ListDeadLetters, name, limit=wanted),
            correlation_id,
            ANSWER_SECONDS,
        )
        for name in names
    }


@router.get(
    "", response_model=DeadLetterList, summary="Dead letters of every service, newest first"
)
async def list_dead_letters(
    request: Request,
    settings: SettingsDep,
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
    service: str | None = Query(None, max_length=50),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000),
) -> dict[str, Any]:
    """Every service is asked at once and the answer waits ANSWER_SECONDS at most: a service
    that has not answered by then is listed in `unavailable`."""
    names = [
        n for n in ([service] if service else list(settings.services)) if n in settings.services
    ]
    calls = list_calls(settings, sender, names, min(limit + offset, 1000), correlation_id)
    # Each call gives up after ANSWER_SECONDS itself; the grace lets its answer come back.
    done = await gather(calls, ANSWER_SECONDS + 0.5, ops_threads(request))
    answers, unavailable = answered(done, names)
    items = [qualified(x) for answer in answers.values() for x in answer["items"]]
    items.sort(key=lambda x: x["created_at"], reverse=True)
    return {
        "items": items[offset : offset + limit],
        "total": sum(answer["total"] for answer in answers.values()),
        "limit": limit,
        "offset": offset,
        "unavailable": unavailable,
    }


@router.get(
    "/{letter_id}",
    response_model=DeadLetterDetail,
    responses=NOT_FOUND,
    summary="One dead letter, with its whole message",
)
def get_dead_letter(
    letter_id: str,
    settings: SettingsDep,
    sender: SenderDep,
    correlation_id: CorrelationIdDep,
    mask_personal: MaskPersonalDep,
) -> dict[str, Any]:
    service, local = split_id(letter_id, settings)
    answer = ask(sender, command(settings, GetDeadLetter, service, letter_id=local), correlation_id)
    if answer is None:
        raise HTTPException(404, detail=f"No dead letter {letter_id}")
    # The service hid its secrets already; a service one release behind may not have.
    return qualified({**answer, "message": shown(answer.get("message"), mask_personal)})


@router.post(
    "/{letter_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Replayed,
    dependencies=[AdminOnly],
    responses=NOT_FOUND,
    summary="Send the original message again, to its original queue, as a new attempt (admin)",
    openapi_extra=audited("dead_letter.replay"),
)
def replay_dead_letter(
    letter_id: str,
    settings: SettingsDep,
    sender: SenderDep,
    ledger: LedgerDep,
    correlation_id: CorrelationIdDep,
) -> dict[str, Any]:
    service, local = split_id(letter_id, settings)
    answer = ask(
        sender, command(settings, ReplayDeadLetter, service, letter_id=local), correlation_id
    )
    if answer is None:
        raise HTTPException(404, detail=f"No dead letter {letter_id}")
    ledger.record_submission(answer["task_id"], answer["task_name"], answer["queue"])
    task_id = answer["task_id"]
    return {
        "dead_letter_id": letter_id,
        "task_id": task_id,
        "status_url": f"/api/v1/tasks/{task_id}",
    }


@router.delete(
    "/{letter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AdminOnly],
    responses=NOT_FOUND,
    summary="Delete a dead letter (admin)",
    openapi_extra=audited("dead_letter.delete"),
)
def delete_dead_letter(
    letter_id: str, settings: SettingsDep, sender: SenderDep, correlation_id: CorrelationIdDep
) -> Response:
    service, local = split_id(letter_id, settings)
    answer = ask(
        sender, command(settings, DeleteDeadLetter, service, letter_id=local), correlation_id
    )
    if not answer or not answer.get("deleted"):
        raise HTTPException(404, detail=f"No dead letter {letter_id}")
    return Response(status_code=204)
