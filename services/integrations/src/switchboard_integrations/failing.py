"""What an attempt's outcome does to its delivery and endpoint: the schedule, and disabling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from switchboard_shared.contracts.integrations import (
    WebhookDelivered,
    WebhookEndpointDisabled,
    WebhookFailed,
)
from switchboard_shared.records import as_utc, utcnow
from switchboard_shared.uow import UnitOfWork

from .adapters.webhooks import AttemptResult
from .config import IntegrationsSettings
from .models import WebhookEndpoint, WebhookMessage


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | retrying | failed | busy | skipped
    retry_in: float | None = None


def record_success(
    uow: UnitOfWork, message: WebhookMessage, endpoint: WebhookEndpoint, result: AttemptResult
) -> None:
    message.status = "delivered"
    endpoint.failing_since = None
    uow.publish(
        WebhookDelivered(
            delivery_id=message.id,
            endpoint_id=endpoint.id,
            event_id=message.event_id,
            event_type=message.event_type,
            url=endpoint.url,
            status_code=result.status_code or 0,
            attempts=message.attempts,
        ),
        subject=endpoint.id,
    )


def record_failure(
    uow: UnitOfWork,
    message: WebhookMessage,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
    settings: IntegrationsSettings,
) -> Outcome:
    now = utcnow()
    endpoint.failing_since = endpoint.failing_since or now
    failing_for = (now - as_utc(endpoint.failing_since)).total_seconds()
    reason = result.error or "failed"
    if failing_for >= settings.webhook_disable_after_seconds:
        disable_endpoint(uow, endpoint, f"failing for {failing_for:.0f}s; last: {reason}")
        give_up(uow, message, endpoint, f"endpoint disabled; last: {reason}")
        return Outcome("failed")
    schedule = settings.webhook_retry_schedule
    if message.schedule_index >= len(schedule):
        give_up(uow, message, endpoint, reason)
        return Outcome("failed")
    delay = schedule[message.schedule_index]
    message.status = "pending"
    message.next_attempt_at = now + timedelta(seconds=delay)
    return Outcome("retrying", delay)


def give_up(
    uow: UnitOfWork, message: WebhookMessage, endpoint: WebhookEndpoint, reason: str
) -> None:
    message.status = "failed"
    uow.publish(
        WebhookFailed(
            delivery_id=message.id,
            endpoint_id=endpoint.id,
            event_id=message.event_id,
            event_type=message.event_type,
            url=endpoint.url,
            reason=reason[:500],
            attempts=message.attempts,
        ),
        subject=endpoint.id,
    )


def disable_endpoint(uow: UnitOfWork, endpoint: WebhookEndpoint, reason: str) -> None:
    failing_since = as_utc(endpoint.failing_since or utcnow())
    endpoint.status = "disabled"
    endpoint.disabled_at = utcnow()
    uow.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id)
        .where(WebhookMessage.status == "pending")
        .values(status="cancelled")
    )
    uow.publish(
        WebhookEndpointDisabled(
            endpoint_id=endpoint.id,
            url=endpoint.url,
            reason=reason[:500],
            failing_since=failing_since.isoformat(),
        ),
        subject=endpoint.id,
    )
