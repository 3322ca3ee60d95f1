"""Base classes of the published language: events (past tense) and commands (imperative)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .sensitivity import Sensitivity, marked


class Event(BaseModel):
    """A domain event: immutable, versioned, named in kebab-case past tense."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ClassVar[str]
    version: ClassVar[int] = 1
    producer: ClassVar[str]


class Command(BaseModel):
    """Work asked of exactly one service, sent as the Celery task `task_name`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_name: ClassVar[str]
    queue: ClassVar[str]
    # Fields masked wherever the message is shown (task events, logs, the ledger): the ones
    # the contract marks `secret(...)`.
    redacted: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.redacted = cls.redacted | marked(cls, Sensitivity.SECRET)

    def destination(self) -> str:
        """The queue this command goes to; a command whose payload picks its priority overrides it."""
        return self.queue
