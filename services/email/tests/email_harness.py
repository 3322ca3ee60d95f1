"""Shared by email's tests: a wired registry over a real (temporary) SQLite database."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from switchboard_email.adapters.base import Mailer
from switchboard_email.bootstrap import bootstrap
from switchboard_email.config import EmailSettings
from switchboard_email.delivery import Post
from switchboard_email.handlers import registry
from switchboard_email.models import Base
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.messagebus import handle_command
from switchboard_shared.ratelimit import Limiter
from switchboard_shared.uow import SqlAlchemyUnitOfWork


@contextmanager
def email_db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'email.db'}")
    create_all(engine, Base.metadata)
    try:
        yield create_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def wired(
    settings: EmailSettings, mailer: Mailer | None = None, limiter: Limiter | None = None
) -> Iterator[Post]:
    """Email's module-level registry bootstrapped for one test; restored afterwards."""
    saved = dict(registry.dependencies)
    try:
        yield bootstrap(registry, settings, mailer=mailer, limiter=limiter)
    finally:
        registry.dependencies.clear()
        registry.dependencies.update(saved)


@dataclass
class Sender:
    """Runs `email.send` through the kit's command path (inbox, outbox) on a real database."""

    db: sessionmaker[Session]

    def uow(
        self, correlation_id: str = "ord_1", causation_id: str = "task-1"
    ) -> SqlAlchemyUnitOfWork:
        context = MessageContext.new(correlation_id, causation_id=causation_id)
        return SqlAlchemyUnitOfWork(self.db, service="email", context=context)

    def send(self, payload: dict[str, Any], message_id: str = "task-1") -> Any:
        return handle_command(
            "email.send",
            payload,
            message_id,
            MessageContext.new("ord_1", causation_id=message_id),
            registry,
            lambda context: SqlAlchemyUnitOfWork(self.db, service="email", context=context),
        )


class CountingLimiter:
    """Grants `tokens` tokens, then says "wait `wait` seconds"."""

    def __init__(self, tokens: int, wait: float = 2.5) -> None:
        self.tokens, self.wait, self.asked = tokens, wait, 0
        self.reserving: list[bool] = []

    def acquire(self, reserve: bool = True) -> None:
        from switchboard_shared.ratelimit import RateLimited

        self.asked += 1
        self.reserving.append(reserve)
        if self.tokens <= 0:
            raise RateLimited("test limit", self.wait)
        self.tokens -= 1


def parsed(message: Message) -> EmailMessage:
    """A message as a receiver reads it (the modern API: `get_body`, `iter_attachments`)."""
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def body(message: Message, kind: str = "plain") -> str:
    part = parsed(message).get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())
