"""SMTP delivery: one connection per batch, replies turned into the kit's failure classes."""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass

from ..config import EmailSettings
from .base import Deferred, PermanentRejection, UntrustedServer

__all__ = ["PermanentRejection", "SmtpMailer", "SmtpSession", "UntrustedServer"]


class SmtpSession:
    """One open SMTP connection; a refused recipient leaves it usable for the next message."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self.client: smtplib.SMTP | None = None

    def connect(self) -> None:
        s = self.settings
        context = tls_context(s) if s.smtp_ssl or s.smtp_starttls else None
        client: smtplib.SMTP | None = None
        try:
            client = _open(s, context)
            if s.smtp_starttls:
                client.starttls(context=context)
            if s.smtp_username:
                client.login(s.smtp_username, s.smtp_password)
        except BaseException as exc:
            if client is not None:
                client.close()
            failure = _connect_failure(exc, s)
            if failure is None:
                raise
            raise failure from exc
        self.client = client

    def send(self, message: Message) -> None:
        if self.client is None:
            self.connect()
        if self.client is None:
            raise RuntimeError("SMTP connect() left no client")
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


def tls_context(settings: EmailSettings) -> ssl.SSLContext:
    """Verifies the server's certificate and host name: against the system's CAs, or only
    against `smtp_ca_file` when set (a relay with a certificate from a private CA)."""
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def _open(s: EmailSettings, context: ssl.SSLContext | None) -> smtplib.SMTP:
    if s.smtp_ssl:
        return smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout, context=context)
    return smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)


def _connect_failure(exc: BaseException, s: EmailSettings) -> ClassifiedError | None:
    """What connecting raised as one of the kit's failure classes; None: raise it unchanged."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return UntrustedServer(
            f"SMTP server {s.smtp_host}:{s.smtp_port} failed TLS certificate verification: "
            f"{exc.verify_message or exc}"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        return _classified(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPException | OSError):
        return _unreachable(exc)
    return None


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
