"""Webhook endpoints: registration, the attempts list, replaying a delivery."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from switchboard_shared.contracts.integrations import (
    ListWebhookDeliveries,
    RegisterWebhookEndpoint,
    ReplayWebhookDelivery,
)
from switchboard_shared.records import as_utc, utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.dispatch import DeliveryDispatcher
from .models import WebhookAttempt, WebhookEndpoint, WebhookMessage


def register_endpoint(command: RegisterWebhookEndpoint, uow: UnitOfWork) -> dict[str, Any]:
    if uow.session.get(WebhookEndpoint, command.endpoint_id) is None:
        uow.session.add(
            WebhookEndpoint(
                id=command.endpoint_id,
                url=command.url,
                secret=command.secret,
                event_types=sorted(set(command.events)),
            )
        )
    return {"endpoint_id": command.endpoint_id}


def attempt_json(attempt: WebhookAttempt, message: WebhookMessage) -> dict[str, Any]:
    return {
        "delivery_id": attempt.message_id,
        "attempt": attempt.attempt,
        "event_type": message.event_type,
        "event_id": message.event_id,
        "outcome": attempt.outcome,
        "status_code": attempt.status_code,
        "error": attempt.error,
        "duration_ms": attempt.duration_ms,
        "webhook_timestamp": attempt.webhook_timestamp,
        "attempted_at": as_utc(attempt.attempted_at).isoformat(),
        "delivery_status": message.status,
    }


def list_deliveries(query: ListWebhookDeliveries, uow: UnitOfWork) -> dict[str, Any]:
    endpoint = uow.session.get(WebhookEndpoint, query.endpoint_id)
    if endpoint is None:
        return {"found": False}
    where = WebhookAttempt.endpoint_id == query.endpoint_id
    total = uow.session.scalar(select(func.count()).select_from(WebhookAttempt).where(where))
    rows = uow.session.execute(
        select(WebhookAttempt, WebhookMessage)
        .join(WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id)
        .where(where)
        .order_by(WebhookAttempt.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    ).all()
    return {
        "found": True,
        "endpoint_status": endpoint.status,
        "items": [attempt_json(attempt, message) for attempt, message in rows],
        "total": total or 0,
    }


def replay_delivery(
    command: ReplayWebhookDelivery, uow: UnitOfWork, dispatcher: DeliveryDispatcher
) -> dict[str, Any]:
    """The same `webhook-id` again, on a fresh schedule; a receiver's dedup sees it as one."""
    message = uow.session.get(WebhookMessage, command.delivery_id)
    if message is None or message.endpoint_id != command.endpoint_id:
        return {"found": False}
    endpoint = uow.session.get(WebhookEndpoint, message.endpoint_id)
    if endpoint is None or endpoint.status != "active":
        return {"found": True, "replayed": False, "reason": "the endpoint is disabled"}
    if message.status in ("pending", "sending"):
        return {"found": True, "replayed": False, "reason": "the delivery is still in progress"}
    message.status = "pending"
    message.schedule_index = 0
    message.next_attempt_at = utcnow()
    dispatcher.after_commit(uow.session, [message.id], uow.context.correlation_id)
    return {"found": True, "replayed": True, "delivery_id": message.id}
