"""The one interface every mail provider implements, and the failures it may raise."""

from __future__ import annotations

from contextlib import AbstractContextManager
from email.message import Message
from typing import Protocol

from switchboard_shared.failures import ClassifiedError, FailureClass


class PermanentRejection(ClassifiedError):
    """5xx (SMTP) or MessageRejected (SES): the address or message is refused for good."""

    failure_class = FailureClass.PROVIDER_4XX


class Deferred(ClassifiedError):
    """4xx for this message: the provider asks to try again later."""

    failure_class = FailureClass.PROVIDER_5XX


class MailSession(Protocol):
    def send(self, message: Message) -> None: ...


class Mailer(Protocol):
    """`send` one message, or open a `session` that reuses one connection across a batch."""

    def send(self, message: Message) -> None: ...

    def session(self) -> AbstractContextManager[MailSession]: ...
