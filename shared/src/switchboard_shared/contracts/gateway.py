"""What the gateway publishes: provider callbacks it verified and recorded, handed on as events."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import Event
from .sensitivity import personal

PRODUCER = "gateway"


class StripeEventReceived(Event):
    """A Stripe webhook whose signature was verified; `stripe_event_id` is unique per event."""

    type: ClassVar[str] = "stripe-event-received"
    producer: ClassVar[str] = PRODUCER

    stripe_event_id: str
    stripe_type: str
    object: dict[str, Any]
    created: int


class TwilioStatusReceived(Event):
    """A Twilio status callback whose signature was verified."""

    type: ClassVar[str] = "twilio-status-received"
    producer: ClassVar[str] = PRODUCER

    message_sid: str
    status: str
    to: str | None = personal(None)
    error_code: str | None = None


class AlertRaised(Event):
    """An ops alert started: a failure rate, a queue backlog or a silent worker over its rule."""

    type: ClassVar[str] = "alert-raised"
    producer: ClassVar[str] = PRODUCER

    alert_id: str
    rule: str  # failure_rate | queue_backlog | worker_down
    subject: str  # the task name, queue or worker it is about
    message: str
    value: float
    threshold: float
    raised_at: str


class AlertResolved(Event):
    """An ops alert whose condition no longer holds."""

    type: ClassVar[str] = "alert-resolved"
    producer: ClassVar[str] = PRODUCER

    alert_id: str
    rule: str
    subject: str
    message: str
    raised_at: str
    resolved_at: str
