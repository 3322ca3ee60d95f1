"""Integrations' published language."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, HttpUrl

from .base import Command, Event

PRODUCER = "integrations"


class DeliverWebhook(Command):
    task_name: ClassVar[str] = "integrations.deliver_webhook"
    queue: ClassVar[str] = "integrations.webhooks"

    url: HttpUrl
    secret: str = Field(min_length=8)
    event_type: str = Field(min_length=1)
    payload: dict[str, Any]


class WebhookDelivered(Event):
    type: ClassVar[str] = "webhook-delivered"
    producer: ClassVar[str] = PRODUCER

    delivery_id: str
    url: str
    event_type: str
    status_code: int
    attempts: int


class WebhookFailed(Event):
    type: ClassVar[str] = "webhook-failed"
    producer: ClassVar[str] = PRODUCER

    delivery_id: str
    url: str
    event_type: str
    reason: str


class SmsDelivered(Event):
    type: ClassVar[str] = "sms-delivered"
    producer: ClassVar[str] = PRODUCER

    message_sid: str
    to: str


class SmsFailed(Event):
    type: ClassVar[str] = "sms-failed"
    producer: ClassVar[str] = PRODUCER

    message_sid: str
    to: str
    reason: str
