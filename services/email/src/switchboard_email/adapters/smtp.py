"""SMTP delivery: one connection per batch, replies turned into the kit's failure classes."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass

from ..config import EmailSettings
from .base import Deferred, PermanentRejection

__all__ = ["PermanentRejection", "SmtpMailer", "SmtpSession"]


class SmtpSession:
    """One open SMTP connection; a refused recipient leaves it usable for the next message."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.client: smtplib.SMTP | None = None

    def connect(self) -> None:
        s = self.settings
        try:
            if s.smtp_ssl:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host, s.smtp_port, timeout=s.smtp_timeout
                )
            else:
                client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_starttls:
                client.starttls()
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
        except smtplib.SMTPResponseException as exc:
            raise _classified(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise _unreachable(exc) from exc
        self.client = client

    def send(self, message: Message) -> None:
        if self.client is None:
            self.connect()
        assert self.client is not None
        try:
            self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise PermanentRejection(f"recipient refused: {exc.recipients}") from exc
            raise Deferred(f"recipient deferred: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            raise _classified(exc.smtp_code, exc.smtp_error) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.client = None  # the next message reconnects
            raise _unreachable(exc) from exc

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None


def _classified(code: int, error: bytes | str) -> ClassifiedError:
    if code >= 500:
        return PermanentRejection(f"SMTP {code}: {error!r}")
    return Deferred(f"SMTP {code}: {error!r}")


def _unreachable(exc: BaseException) -> ClassifiedError:
    return ClassifiedError(f"SMTP unreachable: {exc}", failure_class=FailureClass.NETWORK)


class SmtpMailer:
    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings

    @retry_blips()
    def send(self, message: Message) -> None:
        with self.session() as session:
            session.send(message)

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        session = SmtpSession(self.settings)
        try:
            yield session
        finally:
            session.close()
