"""SMTP delivery: one connection per batch, replies turned into the kit's failure classes."""

from __future__ import annotations

import os
import smtplib
import threading
import time
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
    """Single sends share one connection per worker process while it keeps being used
    (`smtp_keepalive_seconds`): connecting, EHLO and QUIT per mail cost more than the mail."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._kept: SmtpSession | None = None
        self._kept_pid = 0
        self._last_used = 0.0

    @retry_blips()
    def send(self, message: Message) -> None:
        if self.settings.smtp_keepalive_seconds <= 0:
            with self.session() as session:
                session.send(message)
            return
        with self._lock:
            session, reused = self._kept_session()
            try:
                session.send(message)
            except (PermanentRejection, Deferred):
                raise  # the recipient was refused; the connection is fine
            except ClassifiedError as exc:
                self._drop()
                if not (reused and exc.failure_class is FailureClass.NETWORK):
                    raise
                # The server closed the idle connection: this message was not taken.
                session, _ = self._kept_session()
                session.send(message)
            except BaseException:
                self._drop()
                raise
            self._last_used = time.monotonic()

    def _kept_session(self) -> tuple[SmtpSession, bool]:
        """The process's open connection (and whether it was used before), or a new one."""
        idle = time.monotonic() - self._last_used
        kept = self._kept
        if kept is not None and (
            self._kept_pid != os.getpid() or idle > self.settings.smtp_keepalive_seconds
        ):
            self._drop()  # another process's socket, or one the server may have closed
            kept = None
        if kept is not None:
            return kept, True
        self._kept, self._kept_pid = SmtpSession(self.settings), os.getpid()
        return self._kept, False

    def _drop(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None and self._kept_pid == os.getpid():
            kept.close()

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        session = SmtpSession(self.settings)
        try:
            yield session
        finally:
            session.close()
