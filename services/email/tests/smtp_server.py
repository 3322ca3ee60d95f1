"""A real SMTP server (aiosmtpd) for email's tests: accepts mail, except chosen addresses.

`REJECTED` gets 550 (a bounce), `DEFERRED` gets 451 (try later). Every message is kept with
its arrival time and the SMTP session it came over (to count connections).

For TLS, `tls_certificates` makes a CA of its own (trustme) and a server certificate it issued;
`starttls_server` and `implicit_tls_server` serve with it and record any login they are given.
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from switchboard_shared.testsupport import free_port

REJECTED = "nobody@example.com"
DEFERRED = "later@example.com"


@dataclass
class Received:
    message: EmailMessage
    recipients: list[str]
    at: float
    session: int


@dataclass
class RecordingHandler:
    rejected: set[str] = field(default_factory=lambda: {REJECTED})
    deferred: set[str] = field(default_factory=lambda: {DEFERRED})
    received: list[Received] = field(default_factory=list)
    keep_messages: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.rejected:
            return f"550 5.1.1 <{address}>: user unknown"
        if address in self.deferred:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = (
            email.message_from_bytes(envelope.content, policy=email.policy.default)
            if self.keep_messages
            else EmailMessage()
        )
        with self.lock:
            self.received.append(
                Received(message, list(envelope.rcpt_tos), time.monotonic(), id(session))  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]

    @property
    def recipients(self) -> list[list[str]]:
        return [r.recipients for r in self.received]

    def to(self) -> list[str]:
        """The envelope recipient of each message received, in order."""
        with self.lock:
            return [r.recipients[0] for r in self.received]


@contextmanager
def smtp_server(
    handler: RecordingHandler | None = None, **kwargs: Any
) -> Iterator[tuple[RecordingHandler, int]]:
    handler = handler or RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Tls:
    """A server TLS context, and the PEM file of the CA that issued its certificate."""

    server: ssl.SSLContext
    ca_file: Path


def tls_certificates(directory: Path, *names: str) -> Tls:
    """A new CA and a certificate it issued for `names` (default: 127.0.0.1 and localhost)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / f"ca-{uuid.uuid4().hex[:8]}.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(context, ca_file)


@dataclass
class RecordingAuthenticator:
    """Accepts any login over TLS, and keeps what it was given (what an impostor would steal)."""

    logins: list[tuple[str, str]] = field(default_factory=list)

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


@contextmanager
def starttls_server(
    tls: Tls, handler: RecordingHandler | None = None
) -> Iterator[tuple[RecordingHandler, int, RecordingAuthenticator]]:
    """A server that requires STARTTLS before anything else, then accepts AUTH."""
    authenticator = RecordingAuthenticator()
    with smtp_server(
        handler, tls_context=tls.server, require_starttls=True, authenticator=authenticator
    ) as (recording, port):
        yield recording, port, authenticator


@contextmanager
def implicit_tls_server(
    tls: Tls, handler: RecordingHandler | None = None
) -> Iterator[tuple[RecordingHandler, int, RecordingAuthenticator]]:
    """A server that speaks TLS from the first byte (SMTPS, as on port 465), then accepts AUTH."""
    authenticator = RecordingAuthenticator()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; here the whole connection is TLS.
    with smtp_server(
        handler, ssl_context=tls.server, authenticator=authenticator, auth_require_tls=False
    ) as (recording, port):
        yield recording, port, authenticator
