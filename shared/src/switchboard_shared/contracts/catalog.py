"""The one catalog of the published language: event type → model → producer; command name → model."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, TypeVar

from . import email, gateway, integrations, orders, payments, reports
from .base import Command, Event

T = TypeVar("T")

_MODULES = (orders, payments, email, reports, integrations, gateway)


class UnknownEventType(LookupError):
    """An event type that the catalog does not know."""


@dataclass(frozen=True)
class EventSpec:
    type: str
    version: int
    producer: str
    model: builtins.type[Event]

    def schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()


def _subclasses_in(module: object, base: type[T]) -> list[type[T]]:
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, base) and value is not base
    ]


EVENTS: dict[str, EventSpec] = {
    model.type: EventSpec(model.type, model.version, model.producer, model)
    for module in _MODULES
    for model in _subclasses_in(module, Event)
}

COMMANDS: dict[str, type[Command]] = {
    model.task_name: model for module in _MODULES for model in _subclasses_in(module, Command)
}


def event_spec(event_type: str) -> EventSpec:
    try:
        return EVENTS[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def register_event(model: type[Event]) -> type[Event]:
    """Add an event model defined outside the contract modules (used by tests and extensions)."""
    EVENTS[model.type] = EventSpec(model.type, model.version, model.producer, model)
    return model
