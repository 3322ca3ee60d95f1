"""Commands every service answers for the ops plane (registered by the kit's app factory).

Their task names carry the service (`orders.diagnose`, `orders.dead_letters.list` …), so each
model here is a template and `for_service()` makes the command for one service.
"""

from __future__ import annotations

from functools import cache
from typing import ClassVar, Literal

from pydantic import Field

from .base import Command

FailureName = Literal[
    "validation",
    "timeout",
    "network",
    "provider-4xx",
    "provider-5xx",
    "database",
    "resource",
    "unknown",
]


class OpsCommand(Command):
    verb: ClassVar[str]


class Diagnose(OpsCommand):
    """Seed 000's test task: work for `seconds` in `steps` with progress, then answer or fail.

    `fail_while_key`: fail (as `fail`, default validation) while that Redis key exists, so an
    operator can prove a dead letter replays to success once the cause is gone.
    """

    verb: ClassVar[str] = "diagnose"

    seconds: float = Field(default=0.0, ge=0, le=600)
    steps: int = Field(default=1, ge=1, le=1000)
    fail: FailureName | None = None
    fail_while_key: str | None = Field(default=None, max_length=200)
    echo: dict[str, object] = Field(default_factory=dict)


class ListDeadLetters(OpsCommand):
    verb: ClassVar[str] = "dead_letters.list"

    limit: int = Field(default=50, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class GetDeadLetter(OpsCommand):
    verb: ClassVar[str] = "dead_letters.get"

    letter_id: str = Field(min_length=1, max_length=64)


class ReplayDeadLetter(GetDeadLetter):
    verb: ClassVar[str] = "dead_letters.replay"


class DeleteDeadLetter(GetDeadLetter):
    verb: ClassVar[str] = "dead_letters.delete"


OPS_COMMANDS: tuple[type[OpsCommand], ...] = (
    Diagnose,
    ListDeadLetters,
    GetDeadLetter,
    ReplayDeadLetter,
    DeleteDeadLetter,
)


@cache
def for_service(template: type[OpsCommand], service: str, queue: str) -> type[OpsCommand]:
    """`template` as the command of `service`, sent to `queue` (the service's default queue)."""
    namespace = {
        "__annotations__": {"task_name": "ClassVar[str]", "queue": "ClassVar[str]"},
        "__module__": __name__,
        "task_name": f"{service}.{template.verb}",
        "queue": queue,
    }
    return type(f"{template.__name__}_{service}", (template,), namespace)
