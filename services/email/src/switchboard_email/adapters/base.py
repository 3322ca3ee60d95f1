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


class UntrustedServer(ClassifiedError):
    """The server's TLS certificate failed verification: nothing was sent to it, not even the
    login. Not retried: a wrong CA, host name or an impostor does not go away by waiting, and
    the dead letter names it at once (replay it once the relay or `EMAIL_SMTP_CA_FILE` is
    fixed). Never a `PermanentRejection`: the recipients are not at fault."""

    failure_class = FailureClass.PROVIDER_4XX


class MailSession(Protocol):
    def send(self, message: Message) -> None: ...


class Mailer(Protocol):
    """`send` one message, or open a `session` that reuses one connection across a batch."""

    def send(self, message: Message) -> None: ...

    def session(self) -> AbstractContextManager[MailSession]: ...
