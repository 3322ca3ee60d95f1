"""The flow a message belongs to: correlation, causation and trace, carried hop to hop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .contracts.envelope import Envelope, new_traceparent


@dataclass(frozen=True)
class MessageContext:
    correlation_id: str
    causation_id: str | None = None
    traceparent: str | None = None
    occurred_at: datetime | None = None

    @classmethod
    def caused_by(cls, envelope: Envelope) -> MessageContext:
        """Context for events published while handling `envelope`."""
        return cls(envelope.correlationid, envelope.id, envelope.traceparent, envelope.time)

    @classmethod
    def new(cls, correlation_id: str, causation_id: str | None = None) -> MessageContext:
        return cls(correlation_id, causation_id, new_traceparent())
