"""Email: a message or a bulk campaign, validated here and handed to the email service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from switchboard_shared.contracts import Command
from switchboard_shared.contracts.email import SendBulkEmail, SendEmail

from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep
from switchboard_gateway.errors import ErrorResponse
from switchboard_gateway.sender import BrokerUnavailable

router = APIRouter(prefix="/emails", tags=["emails"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse},
    413: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
    503: {"model": ErrorResponse},
}


class EmailAccepted(BaseModel):
    task_id: str
    status_url: str


def _submit(sender: SenderDep, command: Command, correlation_id: str) -> EmailAccepted:
    try:
        task_id = sender.send(command, correlation_id)
    except BrokerUnavailable as exc:
        raise HTTPException(503, detail="The broker is unavailable; try again") from exc
    return EmailAccepted(task_id=task_id, status_url=f"/api/v1/tasks/{task_id}")


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EmailAccepted,
    summary="Send one email (text and/or HTML, or a template), on the queue of its priority",
    responses=ERRORS,
)
def send_email(
    body: SendEmail, sender: SenderDep, correlation_id: CorrelationIdDep
) -> EmailAccepted:
    return _submit(sender, body, correlation_id)


@router.post(
    "/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EmailAccepted,
    summary="Send one template to many recipients; the task's result lists each one's outcome",
    responses=ERRORS,
)
def send_bulk_email(
    body: SendBulkEmail, sender: SenderDep, correlation_id: CorrelationIdDep
) -> EmailAccepted:
    return _submit(sender, body, correlation_id)
