"""Email over a real SMTP server (aiosmtpd) started in the test: delivery, bounces, deferrals."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from smtp_server import DEFERRED, REJECTED, RecordingHandler, smtp_server, tls_certificates
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email.adapters.smtp import PermanentRejection, SmtpMailer
from switchboard_email.bootstrap import bootstrap
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Base, SentEmail, Suppression
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.failures import ClassifiedError, FailureClass, classify, policies
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import free_port
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    with smtp_server() as server:
        yield server


def settings(port: int, **overrides: Any) -> EmailSettings:
    return EmailSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5, **overrides)


def message(to: str, subject: str = "Hello") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Switchboard <no-reply@switchboard.local>", to, subject
    msg.set_content("plain body")
    return msg


# --- the adapter ------------------------------------------------------------------------


def test_smtp_mailer_delivers_to_the_server(smtp: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp
    SmtpMailer(settings(port)).send(message("buyer@example.com", "Your order"))
    [received] = handler.messages
    assert received["To"] == "buyer@example.com"
    assert received["Subject"] == "Your order"
    assert received.get_content().strip() == "plain body"
    assert handler.recipients == [["buyer@example.com"]]


def test_a_550_recipient_is_a_permanent_rejection_that_never_retries(
    smtp: tuple[RecordingHandler, int],
) -> None:
    handler, port = smtp
    with pytest.raises(PermanentRejection) as info:
        SmtpMailer(settings(port)).send(message(REJECTED))
    assert "550" in str(info.value)
    assert classify(info.value) is FailureClass.PROVIDER_4XX
    assert not policies()[classify(info.value)].retries
    assert handler.messages == []


def test_a_451_recipient_is_deferred_and_retried(smtp: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp
    with pytest.raises(ClassifiedError) as info:
        SmtpMailer(settings(port)).send(message(DEFERRED))
    assert not isinstance(info.value, PermanentRejection)
    assert "451" in str(info.value)
    assert classify(info.value) is FailureClass.PROVIDER_5XX
    assert policies()[classify(info.value)].retries
    assert handler.messages == []


def test_an_unreachable_server_is_a_network_failure() -> None:
    with pytest.raises(ClassifiedError, match="SMTP unreachable") as info:
        SmtpMailer(settings(free_port())).send(message("buyer@example.com"))
    assert classify(info.value) is FailureClass.NETWORK


def sessions(handler: RecordingHandler) -> list[int]:
    return [r.session for r in handler.received]


def test_single_sends_share_one_connection(smtp: tuple[RecordingHandler, int]) -> None:
    handler, port = smtp
    mailer = SmtpMailer(settings(port))
    for to in ("a@example.com", REJECTED, "b@example.com"):
        with contextlib.suppress(PermanentRejection):  # a refusal leaves the connection usable
            mailer.send(message(to))

    assert handler.to() == ["a@example.com", "b@example.com"]
    assert len(set(sessions(handler))) == 1


def test_with_keepalive_off_each_mail_has_its_own_connection(
    smtp: tuple[RecordingHandler, int],
) -> None:
    handler, port = smtp
    mailer = SmtpMailer(settings(port, smtp_keepalive_seconds=0))
    for to in ("a@example.com", "b@example.com"):
        mailer.send(message(to))

    assert len(set(sessions(handler))) == 2


def test_a_connection_the_server_dropped_is_replaced_and_the_mail_still_goes() -> None:
    port = free_port()
    first, second = RecordingHandler(), RecordingHandler()
    server = Controller(first, hostname="127.0.0.1", port=port)
    server.start()
    mailer = SmtpMailer(settings(port))
    mailer.send(message("a@example.com"))
    server.stop()  # closes the kept connection, as a server restart (or idle timeout) does
    server = Controller(second, hostname="127.0.0.1", port=port)
    server.start()
    try:
        mailer.send(message("b@example.com"))
    finally:
        server.stop()

    assert first.to() == ["a@example.com"]
    assert second.to() == ["b@example.com"]


# --- the send command, end to end --------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'email.db'}")
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def wired(smtp: tuple[RecordingHandler, int]) -> Iterator[RecordingHandler]:
    """Email's module-level registry, bootstrapped with the real SmtpMailer; restored after."""
    handler, port = smtp
    saved = dict(registry.dependencies)
    bootstrap(registry, settings(port, sender="Shop <shop@example.com>"))
    try:
        yield handler
    finally:
        registry.dependencies.clear()
        registry.dependencies.update(saved)


def send(db: sessionmaker[Session], payload: dict[str, Any], message_id: str = "task-1") -> Any:
    return handle_command(
        "email.send",
        payload,
        message_id,
        MessageContext.new("ord_1", causation_id=message_id),
        registry,
        lambda context: SqlAlchemyUnitOfWork(db, service="email", context=context),
    )


PDF = b"%PDF-1.4 tiny invoice\x00\x01\x02"


def test_send_email_with_attachments_arrives_whole(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    result = send(
        db,
        {
            "to": "buyer@example.com",
            "subject": "Invoice INV-1",
            "text": "Your invoice is attached.",
            "html": "<p>Your invoice is attached.</p>",
            "attachments": [
                {
                    "filename": "INV-1.pdf",
                    "content_type": "application/pdf",
                    "content_base64": base64.b64encode(PDF).decode(),
                },
                {
                    "filename": "lines.csv",
                    "content_type": "text/csv",
                    "content_base64": base64.b64encode(b"sku,qty\nrose,2\n").decode(),
                },
            ],
        },
    )

    [received] = wired.messages
    assert received["From"] == "Shop <shop@example.com>"
    assert received["To"] == "buyer@example.com"
    assert received["Subject"] == "Invoice INV-1"
    assert received["Message-ID"]
    assert received.get_body(("plain",)).get_content().strip() == "Your invoice is attached."  # type: ignore[union-attr]
    assert "<p>" in received.get_body(("html",)).get_content()  # type: ignore[union-attr]
    attachments = {part.get_filename(): part for part in received.iter_attachments()}
    assert set(attachments) == {"INV-1.pdf", "lines.csv"}
    assert attachments["INV-1.pdf"].get_content_type() == "application/pdf"
    assert attachments["INV-1.pdf"].get_content() == PDF
    assert attachments["lines.csv"].get_content_type() == "text/csv"
    assert attachments["lines.csv"].get_payload(decode=True) == b"sku,qty\nrose,2\n"

    assert result["to"] == "buyer@example.com"
    with db() as session:
        [sent] = session.scalars(select(SentEmail)).all()
        assert (sent.id, sent.reason, sent.correlation_id) == (
            result["message_id"],
            "direct",
            "ord_1",
        )
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.event_type == "email-sent"
        assert row.envelope["data"]["message_id"] == result["message_id"]
        assert row.envelope["correlationid"] == "ord_1"


def test_the_same_send_command_delivered_twice_sends_one_email(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    payload = {"to": "buyer@example.com", "subject": "Once", "text": "only once"}
    first = send(db, payload)
    second = send(db, payload)
    assert first == second
    assert len(wired.messages) == 1


def test_a_bounced_send_suppresses_the_address_and_publishes_email_bounced(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    first = send(db, {"to": REJECTED, "subject": "Hi", "text": "x"}, message_id="t1")
    again = send(db, {"to": REJECTED, "subject": "Hi", "text": "x"}, message_id="t2")

    assert first["status"] == "bounced" and "550" in first["reason"]
    assert again["status"] == "suppressed"
    with db() as session:
        assert session.scalars(select(SentEmail)).all() == []
        assert session.get(Suppression, REJECTED) is not None
        types = [row.event_type for row in session.scalars(select(OutboxMessage)).all()]
    assert sorted(types) == ["email-bounced", "email-failed"]
    assert wired.messages == []


def test_a_451_send_is_raised_for_a_retry_and_records_nothing(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    with pytest.raises(ClassifiedError) as info:
        send(db, {"to": DEFERRED, "subject": "Hi", "text": "x"})
    assert policies()[classify(info.value)].retries
    with db() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
        assert session.get(Suppression, DEFERRED) is None


def test_an_attachment_that_is_not_base64_is_refused_before_sending(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    payload = {
        "to": "buyer@example.com",
        "subject": "Hi",
        "text": "x",
        "attachments": [{"filename": "a.bin", "content_base64": "not base64!!"}],
    }
    with pytest.raises(ValueError, match="base64") as info:
        send(db, payload)
    assert classify(info.value) is FailureClass.VALIDATION
    assert wired.messages == []


# --- one connection per batch, and transport security ------------------------------------


def test_a_session_sends_a_batch_over_one_connection_past_refused_recipients(
    smtp: tuple[RecordingHandler, int],
) -> None:
    handler, port = smtp
    failures = []
    with SmtpMailer(settings(port)).session() as session:
        for to in ["a@example.com", REJECTED, "b@example.com", DEFERRED, "c@example.com"]:
            try:
                session.send(message(to))
            except ClassifiedError as exc:
                failures.append((to, classify(exc)))
    assert handler.to() == ["a@example.com", "b@example.com", "c@example.com"]
    assert len({r.session for r in handler.received}) == 1
    assert failures == [
        (REJECTED, FailureClass.PROVIDER_4XX),
        (DEFERRED, FailureClass.PROVIDER_5XX),
    ]


def test_starttls_is_used_when_configured_and_required_by_the_server(tmp_path: Path) -> None:
    tls = tls_certificates(tmp_path)
    with smtp_server(tls_context=tls.server, require_starttls=True) as (handler, port):
        with pytest.raises(PermanentRejection, match="530"):
            SmtpMailer(settings(port)).send(message("plain@example.com"))
        trusting = settings(port, smtp_starttls=True, smtp_ca_file=str(tls.ca_file))
        SmtpMailer(trusting).send(message("tls@example.com"))
    assert handler.to() == ["tls@example.com"]
