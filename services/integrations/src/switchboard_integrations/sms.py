"""SMS: send through the provider, then follow Twilio's signed status callbacks."""

from __future__ import annotations

import logging
from typing import Any

import phonenumbers
from sqlalchemy import select
from switchboard_shared.contracts.gateway import TwilioStatusReceived
from switchboard_shared.contracts.integrations import SendSms, SmsDelivered, SmsFailed, SmsSent
from switchboard_shared.failures import ValidationFailure
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.twilio_sms import SmsProvider, SmsRejected
from .config import IntegrationsSettings
from .models import SmsMessage

log = logging.getLogger("switchboard.integrations")

FINAL_FAILURES = {"failed", "undelivered"}
# A status never moves back: a late `sent` after `delivered` changes nothing.
RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
}


def require_e164(number: str) -> str:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailure(f"to: {number!r} is not a phone number: {exc}") from exc
    formatted = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if formatted != number or not phonenumbers.is_valid_number(parsed):
        raise ValidationFailure(f"to: {number!r} is not a valid E.164 number")
    return formatted


def send_sms(
    command: SendSms, uow: UnitOfWork, sms: SmsProvider, settings: IntegrationsSettings
) -> dict[str, Any]:
    to = require_e164(command.to)
    row = SmsMessage(id=command.sms_id, to=to, body=command.body, status="accepted")
    uow.session.add(row)
    try:
        sent = sms.send(to, command.body, settings.status_callback_url)
    except SmsRejected as exc:
        row.status, row.error = "failed", str(exc)
        uow.publish(SmsFailed(message_sid="", to=to, reason=str(exc), sms_id=row.id))
        return {"sms_id": row.id, "status": "failed", "error": str(exc)}
    row.sid, row.status = sent.sid, sent.status
    uow.publish(SmsSent(sms_id=row.id, message_sid=sent.sid, to=to))
    return {"sms_id": row.id, "sid": sent.sid, "status": sent.status}


def apply_status(event: TwilioStatusReceived, uow: UnitOfWork) -> None:
    row = uow.session.scalars(
        select(SmsMessage).where(SmsMessage.sid == event.message_sid).with_for_update()
    ).first()
    if row is None:
        log.warning("status for an unknown message", extra={"message_sid": event.message_sid})
        return
    if RANK.get(event.status, -1) <= RANK.get(row.status, -1):
        return
    row.status, row.updated_at = event.status, utcnow()
    if event.status == "delivered":
        uow.publish(SmsDelivered(message_sid=event.message_sid, to=row.to, sms_id=row.id))
    elif event.status in FINAL_FAILURES:
        reason = f"{event.status} (error {event.error_code or 'unknown'})"
        row.error = reason
        uow.publish(
            SmsFailed(message_sid=event.message_sid, to=row.to, reason=reason, sms_id=row.id)
        )
