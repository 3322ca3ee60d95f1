"""SMS: validate the number (E.164, phonenumbers) and hand `integrations.send_sms` over."""

from __future__ import annotations

import secrets

import phonenumbers
from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from switchboard_shared.contracts.integrations import SendSms

from switchboard_gateway.api.calls import send_or_503
from switchboard_gateway.api.deps import CorrelationIdDep, SenderDep
from switchboard_gateway.errors import ErrorResponse

router = APIRouter(prefix="/sms", tags=["sms"])


class SmsRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"to": "+14155552671", "body": "Hi"}]}
    )

    to: str = Field(max_length=20, description="E.164: + and the country code, e.g. +14155552671")
    body: str = Field(min_length=1, max_length=1600)

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(
                f"not a phone number in E.164 form (+<country><number>): {exc}"
            ) from exc
        formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if formatted != value:
            raise ValueError(f"not in E.164 form: write it as {formatted}")
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number for its country")
        return value


class SmsAccepted(BaseModel):
    sms_id: str
    task_id: str
    status_url: str


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SmsAccepted,
    summary="Send an SMS",
    responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
def send_sms(body: SmsRequest, sender: SenderDep, correlation_id: CorrelationIdDep) -> SmsAccepted:
    command = SendSms(sms_id=f"sms_{secrets.token_hex(12)}", to=body.to, body=body.body)
    task_id = send_or_503(sender, command, command.sms_id)
    return SmsAccepted(
        sms_id=command.sms_id, task_id=task_id, status_url=f"/api/v1/tasks/{task_id}"
    )
