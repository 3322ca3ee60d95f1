"""The published language shared by every service: envelopes, events and commands."""

from .base import Command, Event
from .catalog import COMMANDS, EVENTS, EventSpec, UnknownEventType, event_spec, register_event
from .envelope import Envelope

__all__ = [
    "COMMANDS",
    "EVENTS",
    "Command",
    "Envelope",
    "Event",
    "EventSpec",
    "UnknownEventType",
    "event_spec",
    "register_event",
]
