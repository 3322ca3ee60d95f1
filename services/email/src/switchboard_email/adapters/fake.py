"""An in-memory Mailer for unit tests: keeps what it sends, refuses what it is told to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message

from switchboard_shared.failures import ClassifiedError

from .base import Deferred, PermanentRejection


@dataclass
class FakeMailer:
    """`bounce` addresses get a permanent rejection, `defer` ones a 4xx, `down` fails all."""

    sent: list[Message] = field(default_factory=list)
    bounce: set[str] = field(default_factory=set)
    defer: set[str] = field(default_factory=set)
    down: ClassifiedError | None = None
    sessions: int = 0

    def send(self, message: Message) -> None:
        to = str(message["To"])
        if self.down is not None:
            raise self.down
        if to in self.bounce:
            raise PermanentRejection(f"550 5.1.1 <{to}>: user unknown")
        if to in self.defer:
            raise Deferred(f"451 4.3.0 <{to}>: try again later")
        self.sent.append(message)

    @contextmanager
    def session(self) -> Iterator[FakeMailer]:
        self.sessions += 1
        yield self

    def to(self) -> list[str]:
        return [str(message["To"]) for message in self.sent]
