"""A real SMTP server (aiosmtpd) for email's tests: accepts mail, except chosen addresses.

`REJECTED` gets 550 (a bounce), `DEFERRED` gets 451 (try later). Every message is kept with
its arrival time and the SMTP session it came over (to count connections).
"""

from __future__ import annotations

import datetime
import email
import email.policy
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
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


def self_signed_context(directory: Path) -> ssl.SSLContext:
    """A server TLS context with a throwaway certificate for 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context
