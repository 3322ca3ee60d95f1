"""Issue 17, item 7: SMTP over TLS must check the server's certificate.

The attack: whoever sits between a worker and its SMTP relay answers with a certificate of its
own. `starttls()` and `SMTP_SSL` ran without an SSL context, so the worker handed that impostor
the relay's password and every mail. Each test runs the real SMTP adapter against a real
aiosmtpd server whose certificate comes from a trustme CA, over STARTTLS and implicit TLS.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email.adapters.smtp import SmtpMailer
from switchboard_email.bootstrap import bootstrap
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Base, SentEmail, Suppression
from switchboard_shared.context import MessageContext
from switchboard_shared.failures import ClassifiedError, FailureClass, classify, policies
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import database_sessions
from switchboard_shared.uow import SqlAlchemyUnitOfWork

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "email" / "tests"))
from smtp_server import (
    RecordingAuthenticator,
    RecordingHandler,
    Tls,
    implicit_tls_server,
    starttls_server,
    tls_certificates,
)

pytestmark = pytest.mark.integration

PASSWORD = "relay-password-s3cret"
Server = Callable[
    [Tls], AbstractContextManager[tuple[RecordingHandler, int, RecordingAuthenticator]]
]
MODES: dict[str, tuple[Server, dict[str, Any]]] = {
    "starttls": (starttls_server, {"smtp_starttls": True}),
    "implicit-tls": (implicit_tls_server, {"smtp_ssl": True}),
}


def settings(mode: str, port: int, ca_file: Path | None = None) -> EmailSettings:
    return EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        smtp_username="switchboard",
        smtp_password=PASSWORD,
        smtp_ca_file=str(ca_file or ""),
        **MODES[mode][1],
    )


def message(to: str = "buyer@example.com") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Shop <shop@example.com>", to, "Your invoice"
    msg.set_content("invoice attached")
    return msg


@pytest.fixture
def trusted(tmp_path: Path) -> Tls:
    """The relay's real certificate, from the private CA the deploy configures."""
    return tls_certificates(tmp_path / "trusted")


@pytest.fixture
def impostor(tmp_path: Path) -> Tls:
    """A certificate for the very same host, from a CA of the attacker's own."""
    return tls_certificates(tmp_path / "impostor")


def assert_refused_permanently(exc: BaseException) -> None:
    assert "certificate" in str(exc) and "verif" in str(exc), str(exc)
    assert classify(exc) is FailureClass.PROVIDER_4XX
    assert not policies()[classify(exc)].retries


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("trusting", ["system CAs", "the deploy's private CA"])
def test_an_impostor_relay_gets_neither_the_password_nor_the_mail(
    mode: str, trusting: str, trusted: Tls, impostor: Tls
) -> None:
    ca_file = trusted.ca_file if trusting == "the deploy's private CA" else None
    with (
        MODES[mode][0](impostor) as (handler, port, logins),
        pytest.raises(ClassifiedError) as info,
    ):
        SmtpMailer(settings(mode, port, ca_file)).send(message())

    assert_refused_permanently(info.value)
    assert logins.logins == [], "the relay password went to the impostor"
    assert handler.messages == [], "the mail went to the impostor"


@pytest.mark.parametrize("mode", MODES)
def test_a_certificate_of_the_trusted_ca_for_another_host_is_refused(
    mode: str, tmp_path: Path
) -> None:
    other_host = tls_certificates(tmp_path, "mail.example.net")
    with (
        MODES[mode][0](other_host) as (handler, port, logins),
        pytest.raises(ClassifiedError) as info,
    ):
        SmtpMailer(settings(mode, port, other_host.ca_file)).send(message())

    assert_refused_permanently(info.value)
    assert logins.logins == [] and handler.messages == []


@pytest.mark.parametrize("mode", MODES)
def test_the_relay_with_a_certificate_of_the_configured_ca_gets_the_mail(
    mode: str, trusted: Tls
) -> None:
    with MODES[mode][0](trusted) as (handler, port, logins):
        SmtpMailer(settings(mode, port, trusted.ca_file)).send(message())

    assert logins.logins == [("switchboard", PASSWORD)]
    assert handler.to() == ["buyer@example.com"]


def test_a_ca_file_that_does_not_exist_stops_the_worker_at_start() -> None:
    with pytest.raises(ValidationError, match="EMAIL_SMTP_CA_FILE"):
        EmailSettings(smtp_ca_file="/nonexistent/ca.pem")


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with database_sessions(database_url, Base.metadata) as sessions:
        yield sessions


def test_a_send_to_an_impostor_is_dead_lettered_without_suppressing_the_recipient(
    db: sessionmaker[Session], trusted: Tls, impostor: Tls
) -> None:
    """The TLS refusal is the relay's fault, not the recipient's: no bounce, no suppression."""
    saved = dict(registry.dependencies)
    try:
        with starttls_server(impostor) as (handler, port, logins):
            bootstrap(registry, settings("starttls", port, trusted.ca_file))
            with pytest.raises(ClassifiedError) as info:
                handle_command(
                    "email.send",
                    {"to": "buyer@example.com", "subject": "Invoice", "text": "attached"},
                    "task-1",
                    MessageContext.new("ord_1", causation_id="task-1"),
                    registry,
                    lambda context: SqlAlchemyUnitOfWork(db, service="email", context=context),
                )
    finally:
        registry.dependencies.clear()
        registry.dependencies.update(saved)

    assert_refused_permanently(info.value)
    assert logins.logins == [] and handler.messages == []
    with db() as session:
        assert session.get(Suppression, "buyer@example.com") is None
        assert session.scalars(select(SentEmail)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []
