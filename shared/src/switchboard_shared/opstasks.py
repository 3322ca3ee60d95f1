"""The ops command set every service answers: a diagnostic task and its dead-letter store.

The gateway never reads a service's database: it sends these commands (`<service>.diagnose`,
`<service>.dead_letters.list|get|replay|delete`) and each service answers for its own store.
"""

from __future__ import annotations

import json
import time
from typing import Any

from celery import Celery, signals

from .contracts.ops import (
    DeleteDeadLetter,
    Diagnose,
    GetDeadLetter,
    ListDeadLetters,
    OpsCommand,
    ReplayDeadLetter,
)
from .contracts.sensitivity import redact, scrub, secret_values
from .failures import ClassifiedError, FailureClass, ValidationFailure
from .progress import report
from .records import DeadLetter
from .runtime import ServiceDefinition
from .tasks import KitTask, kit_task


def letter_json(letter: DeadLetter, full: bool = False) -> dict[str, Any]:
    """A dead letter as the gateway is given it: secrets never leave the service (its replay
    reads the stored message, whole)."""
    hidden = secret_values(letter.message)
    summary = {
        "id": letter.id,
        "service": letter.service,
        "task_name": letter.task_name,
        "task_id": letter.task_id,
        "queue": letter.queue,
        "reason": scrub(letter.reason, hidden),
        "classification": letter.classification,
        "exception_type": letter.exception_type,
        "deliveries": letter.deliveries,
        "created_at": letter.created_at.isoformat(),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
    }
    if not full:
        return summary
    message = redact(letter.message, mask_personal=False)
    return {**summary, "message": message, "traceback": scrub(letter.traceback, hidden)}


def parse(model: type[OpsCommand], payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise ValidationFailure(f"payload must be an object, got {type(payload).__name__}")
    return model.model_validate(payload)


def diagnose(task: KitTask, command: Diagnose) -> dict[str, Any]:
    for step in range(1, command.steps + 1):
        report(100 * (step - 1) / command.steps, f"step {step} of {command.steps}")
        time.sleep(command.seconds / command.steps)
    failing = command.fail is not None and command.fail_while_key is None
    if command.fail_while_key is not None:
        failing = bool(task.runtime.redis.exists(command.fail_while_key))
    if failing:
        failure = FailureClass(command.fail or "validation")
        raise ClassifiedError(f"diagnose asked to fail as {failure}", failure_class=failure)
    return {"service": task.runtime.service, "steps": command.steps, "echo": command.echo}


SUBSCRIPTIONS_KEY = "switchboard:subscriptions:{service}"


def announce_subscriptions(app: Celery, definition: ServiceDefinition) -> None:
    """At worker start, say in Redis which event types this service consumes (the gateway's
    event catalog lists each event's subscribers from these)."""

    @signals.worker_ready.connect(weak=False)
    def _announce(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        key = SUBSCRIPTIONS_KEY.format(service=definition.name)
        app.runtime.redis.set(key, json.dumps(definition.registry.subscriptions))  # type: ignore[attr-defined,union-attr]


def register_ops_tasks(app: Celery, definition: ServiceDefinition) -> None:
    name, queue = definition.name, definition.default_queue
    announce_subscriptions(app, definition)

    @kit_task(app, f"{name}.{Diagnose.verb}", queue=queue)
    def diagnose_task(self: KitTask, payload: Any) -> dict[str, Any]:
        return diagnose(self, parse(Diagnose, payload))

    @kit_task(app, f"{name}.{ListDeadLetters.verb}", queue=queue)
    def list_letters(self: KitTask, payload: Any) -> dict[str, Any]:
        query = parse(ListDeadLetters, payload)
        store = self.runtime.dead_letters
        letters = store.list(query.limit, query.offset)
        return {"items": [letter_json(x) for x in letters], "total": store.count()}

    @kit_task(app, f"{name}.{GetDeadLetter.verb}", queue=queue)
    def get_letter(self: KitTask, payload: Any) -> dict[str, Any] | None:
        letter = self.runtime.dead_letters.get(parse(GetDeadLetter, payload).letter_id)
        return letter_json(letter, full=True) if letter else None

    @kit_task(app, f"{name}.{ReplayDeadLetter.verb}", queue=queue)
    def replay_letter(self: KitTask, payload: Any) -> dict[str, Any] | None:
        store = self.runtime.dead_letters
        letter = store.get(parse(ReplayDeadLetter, payload).letter_id)
        if letter is None:
            return None
        task_id = store.replay(letter.id, app)
        return {"task_id": task_id, "task_name": letter.task_name, "queue": letter.queue}

    @kit_task(app, f"{name}.{DeleteDeadLetter.verb}", queue=queue)
    def delete_letter(self: KitTask, payload: Any) -> dict[str, Any]:
        return {
            "deleted": self.runtime.dead_letters.delete(parse(DeleteDeadLetter, payload).letter_id)
        }
