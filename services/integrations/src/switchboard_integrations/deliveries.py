"""Webhook deliveries: fan an event out to its endpoints, then one attempt at a time.

An attempt runs in three steps so that no transaction spans the HTTP call: claim the
delivery and its endpoint (one in flight per endpoint), send, record the outcome. The
outcome says when the next attempt is due; the task turns that into a Celery retry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from switchboard_shared.contracts import Envelope
from switchboard_shared.records import as_utc, utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.dispatch import DeliveryDispatcher
from .adapters.webhooks import AttemptResult, WebhookPoster
from .config import IntegrationsSettings
from .failing import Outcome, record_failure, record_success
from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage

ETA_SLACK = timedelta(seconds=1)  # a retry may run a little before its countdown ends


@dataclass(frozen=True)
class Claim:
    message: WebhookMessage
    endpoint: WebhookEndpoint
    body: bytes


def delivery_id_for(event_id: str, endpoint_id: str) -> str:
    """Deterministic: a redelivered event maps to the same delivery and `webhook-id`."""
    return "msg_" + hashlib.sha256(f"{event_id}:{endpoint_id}".encode()).hexdigest()[:24]


def webhook_payload(envelope: Envelope) -> dict[str, Any]:
    return {
        "type": envelope.type,
        "timestamp": envelope.time.isoformat(),
        "event_id": envelope.id,
        "correlation_id": envelope.correlationid,
        "data": envelope.data,
    }


def fan_out(envelope: Envelope, uow: UnitOfWork, dispatcher: DeliveryDispatcher) -> list[str]:
    """One delivery per active endpoint subscribed to this event type, sent after commit."""
    endpoints = uow.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.status == "active")
    ).all()
    created = []
    for endpoint in endpoints:
        if envelope.type not in endpoint.event_types:
            continue
        # No existence check: the inbox runs this once per event id, in this transaction.
        delivery_id = delivery_id_for(envelope.id, endpoint.id)
        uow.session.add(
            WebhookMessage(
                id=delivery_id,
                endpoint_id=endpoint.id,
                event_id=envelope.id,
                event_type=envelope.type,
                payload=webhook_payload(envelope),
            )
        )
        created.append(delivery_id)
    dispatcher.after_commit(uow.session, created, uow.context.correlation_id)
    return created


def claim(session: Session, message_id: str, settings: IntegrationsSettings) -> Claim | Outcome:
    """Take the delivery and its endpoint's one in-flight slot, or say why not."""
    now = utcnow()
    message = session.get(WebhookMessage, message_id)
    if message is None or message.status not in ("pending", "sending"):
        return Outcome("skipped")
    if as_utc(message.next_attempt_at) > now + ETA_SLACK:
        return Outcome("skipped")  # an early duplicate: the real retry is still coming
    endpoint = session.get(WebhookEndpoint, message.endpoint_id)
    if endpoint is None or endpoint.status != "active":
        message.status = "cancelled"
        session.commit()
        return Outcome("skipped")
    hold = now + timedelta(seconds=settings.webhook_deadline_seconds + 5)
    taken, slot = _take(session, message_id, endpoint.id, now, hold)
    if not taken or not slot:
        session.rollback()
        return Outcome("busy", settings.webhook_busy_retry_seconds) if taken else Outcome("skipped")
    session.commit()
    # The rows are ours until the attempt is recorded: keep the loaded objects in step with
    # what the UPDATEs wrote, so recording needs no second read.
    set_committed_value(message, "status", "sending")
    set_committed_value(message, "claimed_until", hold)
    set_committed_value(endpoint, "busy_until", hold)
    body = json.dumps(message.payload, separators=(",", ":"), default=str).encode()
    return Claim(message, endpoint, body)


def _take(
    session: Session, message_id: str, endpoint_id: str, now: datetime, hold: datetime
) -> tuple[bool, bool]:
    """Conditional UPDATEs: (the delivery is ours, the endpoint's in-flight slot is ours)."""
    taken = _rows_changed(
        session,
        update(WebhookMessage)
        .where(WebhookMessage.id == message_id)
        .where(
            or_(
                WebhookMessage.status == "pending",
                (WebhookMessage.status == "sending") & (WebhookMessage.claimed_until < now),
            )
        )
        .values(status="sending", claimed_until=hold),
    )
    slot = _rows_changed(
        session,
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .where(or_(WebhookEndpoint.busy_until.is_(None), WebhookEndpoint.busy_until < now))
        .values(busy_until=hold),
    )
    return taken > 0, slot > 0


def _rows_changed(session: Session, statement: Any) -> int:
    # No in-Python sync of loaded objects (SQLite hands back naive datetimes): the claim
    # sets what it wrote on the objects itself.
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement, execution_options={"synchronize_session": False}
    )
    return int(result.rowcount)


def attempt_delivery(
    message_id: str, uow: UnitOfWork, webhooks: WebhookPoster, settings: IntegrationsSettings
) -> Outcome:
    claimed = claim(uow.session, message_id, settings)
    if isinstance(claimed, Outcome):
        return claimed
    message, endpoint = claimed.message, claimed.endpoint
    result = webhooks.send(endpoint.url, endpoint.secret, message.id, claimed.body)
    outcome = record_attempt(uow, claimed, result, settings)
    uow.commit()
    return outcome


def record_attempt(
    uow: UnitOfWork, claimed: Claim, result: AttemptResult, settings: IntegrationsSettings
) -> Outcome:
    session = uow.session
    message, endpoint = claimed.message, claimed.endpoint
    message.attempts += 1
    message.schedule_index += 1
    message.claimed_until = None
    endpoint.busy_until = None
    session.add(
        WebhookAttempt(
            message_id=message.id,
            endpoint_id=endpoint.id,
            attempt=message.attempts,
            webhook_timestamp=result.timestamp,
            outcome="delivered" if result.ok else "failed",
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    if result.ok:
        record_success(uow, message, endpoint, result)
        return Outcome("delivered")
    return record_failure(uow, message, endpoint, result, settings)


def due_for_dispatch(session: Session, grace: float, limit: int = 500) -> list[WebhookMessage]:
    """Deliveries overdue by more than `grace`: their retry was too far for a countdown, or
    the task carrying them was lost (sent after commit, the broker was down)."""
    now = utcnow()
    return list(
        session.scalars(
            select(WebhookMessage)
            .where(WebhookMessage.status.in_(("pending", "sending")))
            .where(WebhookMessage.next_attempt_at <= now - timedelta(seconds=grace))
            .where(or_(WebhookMessage.claimed_until.is_(None), WebhookMessage.claimed_until < now))
            .order_by(WebhookMessage.next_attempt_at)
            .limit(limit)
        ).all()
    )
