"""Integrations' published language: webhook endpoints and deliveries, SMS, external sync."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from .base import Command, Event
from .sensitivity import personal
from .sensitivity import secret as secret_field

PRODUCER = "integrations"
CONTROL_QUEUE = "integrations.normal"
E164 = r"^\+[1-9]\d{6,14}$"
ENDPOINT_ID = r"^ep_[A-Za-z0-9]{8,40}$"
DELIVERY_ID = r"^msg_[0-9a-f]{24}$"

# Events about webhook deliveries are never themselves delivered as webhooks (no loops).
NOT_DELIVERABLE = frozenset(
    {
        "webhook-delivered",
        "webhook-failed",
        "webhook-endpoint-disabled",
        "stripe-event-received",
        "twilio-status-received",
    }
)


class RegisterWebhookEndpoint(Command):
    """The gateway checked the URL (SSRF guard) and made the id and the secret."""

    task_name: ClassVar[str] = "integrations.register_webhook_endpoint"
    queue: ClassVar[str] = CONTROL_QUEUE

    endpoint_id: str = Field(pattern=ENDPOINT_ID)
    url: str = Field(min_length=8, max_length=2000)
    events: list[str] = Field(min_length=1, max_length=100)
    secret: str = secret_field(min_length=16, max_length=200)


class ListWebhookDeliveries(Command):
    """A query: the delivery attempts of one endpoint, newest first."""

    task_name: ClassVar[str] = "integrations.list_webhook_deliveries"
    queue: ClassVar[str] = CONTROL_QUEUE

    endpoint_id: str
    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class ReplayWebhookDelivery(Command):
    """Send one delivery again: the same `webhook-id`, a fresh timestamp and signature."""

    task_name: ClassVar[str] = "integrations.replay_webhook_delivery"
    queue: ClassVar[str] = CONTROL_QUEUE

    endpoint_id: str
    delivery_id: str


class DeliverWebhook(Command):
    """One attempt at one delivery (sent by integrations itself, retried on its schedule)."""

    task_name: ClassVar[str] = "integrations.deliver_webhook"
    queue: ClassVar[str] = "integrations.webhooks"

    delivery_id: str


class DispatchDueWebhooks(Command):
    """Beat: hand over deliveries whose next attempt is due and that no retry is carrying."""

    task_name: ClassVar[str] = "integrations.dispatch_due_webhooks"
    queue: ClassVar[str] = CONTROL_QUEUE


class SendSms(Command):
    task_name: ClassVar[str] = "integrations.send_sms"
    queue: ClassVar[str] = "integrations.sms"

    sms_id: str = Field(pattern=r"^sms_[A-Za-z0-9]{8,40}$")
    to: str = personal(pattern=E164, description="E.164, e.g. +14155552671")
    body: str = Field(min_length=1, max_length=1600)


class SyncExternal(Command):
    """Beat: pull the external API into the service's store."""

    task_name: ClassVar[str] = "integrations.sync_external"
    queue: ClassVar[str] = "integrations.sync"


class CheckIntegrationsHealth(Command):
    """Beat: every endpoint reachable, provider credentials valid."""

    task_name: ClassVar[str] = "integrations.check_health"
    queue: ClassVar[str] = "integrations.sync"


class WebhookDelivered(Event):
    type: ClassVar[str] = "webhook-delivered"
    producer: ClassVar[str] = PRODUCER

    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    url: str
    status_code: int
    attempts: int


class WebhookFailed(Event):
    """Every attempt on the schedule failed (or the endpoint was disabled)."""

    type: ClassVar[str] = "webhook-failed"
    producer: ClassVar[str] = PRODUCER

    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    url: str
    reason: str
    attempts: int


class WebhookEndpointDisabled(Event):
    type: ClassVar[str] = "webhook-endpoint-disabled"
    producer: ClassVar[str] = PRODUCER

    endpoint_id: str
    url: str
    reason: str
    failing_since: str


class SmsSent(Event):
    type: ClassVar[str] = "sms-sent"
    producer: ClassVar[str] = PRODUCER

    sms_id: str
    message_sid: str
    to: str = personal()


class SmsDelivered(Event):
    type: ClassVar[str] = "sms-delivered"
    producer: ClassVar[str] = PRODUCER

    message_sid: str
    to: str = personal()
    sms_id: str | None = None


class SmsFailed(Event):
    type: ClassVar[str] = "sms-failed"
    producer: ClassVar[str] = PRODUCER

    message_sid: str
    to: str = personal()
    reason: str
    sms_id: str | None = None


class SyncCompleted(Event):
    type: ClassVar[str] = "sync-completed"
    producer: ClassVar[str] = PRODUCER

    source: str
    fetched: int
    created: int
    updated: int


class SyncFailed(Event):
    type: ClassVar[str] = "sync-failed"
    producer: ClassVar[str] = PRODUCER

    source: str
    reason: str
