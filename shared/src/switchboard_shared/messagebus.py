"""Handlers and their dispatch. Plain Python: no Celery here, so flows test in milliseconds."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from .context import MessageContext
from .contracts import Command, Envelope, Event
from .envelopes import unwrap
from .uow import DuplicateMessage, UnitOfWork

log = logging.getLogger("switchboard.bus")

F = TypeVar("F", bound=Callable[..., Any])
EventHandler = Callable[[Any, UnitOfWork], None]
CommandHandler = Callable[[Any, UnitOfWork], Any]
UowFactory = Callable[[MessageContext], UnitOfWork]


@cache
def extra_parameters(fn: Callable[..., Any]) -> tuple[str, ...]:
    """What a handler asks for beyond `(message, uow)`: adapters or the `envelope`."""
    return tuple(list(inspect.signature(fn).parameters)[2:])


def handler_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


@dataclass
class HandlerRegistry:
    """What one service handles. `@registry.on(PaymentSucceeded)` / `@registry.command(CreateOrder)`."""

    events: dict[str, list[EventHandler]] = field(default_factory=dict)
    commands: dict[str, tuple[type[Command], CommandHandler]] = field(default_factory=dict)
    dependencies: dict[str, Any] = field(default_factory=dict)
    idempotent: set[Callable[..., Any]] = field(default_factory=set)

    def provide(self, **dependencies: Any) -> None:
        """Adapters a handler asks for by parameter name (`mailer`, `stripe` …), set by bootstrap."""
        self.dependencies.update(dependencies)

    def call(self, fn: Callable[..., Any], message: Any, uow: UnitOfWork, **context: Any) -> Any:
        """Call `fn(message, uow, ...)`, filling further parameters by name from the
        dependencies or from `context` (an event handler may ask for its `envelope`)."""
        available = {**self.dependencies, **context}
        wanted = extra_parameters(fn)
        missing = [name for name in wanted if name not in available]
        if missing:
            raise LookupError(
                f"{handler_name(fn)} needs {missing}: call registry.provide() in bootstrap"
            )
        return fn(message, uow, **{name: available[name] for name in wanted})

    def on(self, *models: type[Event], idempotent: bool = False) -> Callable[[F], F]:
        """`idempotent=True`: running the handler twice for one event leaves what running it
        once does (upserts, monotonic projections), so the kit keeps no inbox row for it."""

        def register(fn: F) -> F:
            for model in models:
                self.events.setdefault(model.type, []).append(fn)
            if idempotent:
                self.idempotent.add(fn)
            return fn

        return register

    def command(self, model: type[Command], *, idempotent: bool = False) -> Callable[[F], F]:
        """`idempotent=True`: a second run of the same message finds its effect and returns what
        it is now (an insert that skips an existing row), so the kit keeps no inbox row for it."""

        def register(fn: F) -> F:
            if model.task_name in self.commands:
                raise ValueError(f"{model.task_name} already has a handler")
            self.commands[model.task_name] = (model, fn)
            if idempotent:
                self.idempotent.add(fn)
            return fn

        return register

    @property
    def subscriptions(self) -> list[str]:
        return sorted(self.events)


def handle_event(
    envelope: Envelope, registry: HandlerRegistry, uow_factory: UowFactory
) -> list[str]:
    """Run each of this service's handlers once per event id; returns the handlers that ran."""
    event = unwrap(envelope)
    ran: list[str] = []
    for fn in registry.events.get(envelope.type, []):
        name = handler_name(fn)
        try:
            with uow_factory(MessageContext.caused_by(envelope)) as uow:
                if fn not in registry.idempotent:
                    # Claiming is the duplicate check: one INSERT, no SELECT before it.
                    uow.record_handled(envelope.id, name)
                registry.call(fn, event, uow, envelope=envelope)
                uow.commit()
        except DuplicateMessage:
            log.info("duplicate event skipped", extra={"event_id": envelope.id, "handler": name})
            continue
        ran.append(name)
    return ran


def handle_command(
    task_name: str,
    payload: dict[str, Any],
    message_id: str,
    context: MessageContext,
    registry: HandlerRegistry,
    uow_factory: UowFactory,
) -> Any:
    """Run the command's one handler once per message id; a duplicate returns the first result
    (an idempotent handler runs again and answers for itself)."""
    model, fn = registry.commands[task_name]
    command = model.model_validate(payload)
    name = handler_name(fn)
    inbox = fn not in registry.idempotent
    try:
        with uow_factory(context) as uow:
            if inbox:  # claiming is the duplicate check (as for events): a duplicate fails it
                uow.record_handled(message_id, name)
            result = registry.call(fn, command, uow)
            if inbox:
                uow.store_result(message_id, name, result)
            uow.commit()
            return result
    except DuplicateMessage:
        with uow_factory(context) as uow:
            return _first_result(uow, message_id, name)


def _first_result(uow: UnitOfWork, message_id: str, name: str) -> Any:
    getter = getattr(uow, "handled_result", None)
    return getter(message_id, name) if getter else None
