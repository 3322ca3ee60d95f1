"""Turning events into envelopes and back: the only place that does."""

from __future__ import annotations

from .context import MessageContext
from .contracts import Envelope, Event, event_spec
from .contracts.envelope import new_traceparent


def wrap(
    event: Event, *, service: str, context: MessageContext, subject: str | None = None
) -> Envelope:
    return Envelope(
        source=f"/switchboard/{service}",
        type=event.type,
        subject=subject,
        dataschemaversion=event.version,
        correlationid=context.correlation_id,
        causationid=context.causation_id,
        traceparent=context.traceparent or new_traceparent(),
        data=event.model_dump(mode="json"),
    )


def unwrap(envelope: Envelope) -> Event:
    """The typed event inside; raises `UnknownEventType` or pydantic `ValidationError`."""
    return event_spec(envelope.type).model.model_validate(envelope.data)
