"""Email over a real SMTP server (aiosmtpd) started in the test: delivery, bounces, deferrals."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email.adapters.smtp import PermanentRejection, SmtpMailer
from switchboard_email.bootstrap import bootstrap
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Base, SentEmail
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.failures import ClassifiedError, FailureClass, classify, policies
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import free_port
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration

REJECTED = "nobody@example.com"
DEFERRED = "later@example.com"


@dataclass
class RecordingHandler:
    """Accepts mail, except: 550 for REJECTED (a bounce) and 451 for DEFERRED (try later)."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address == REJECTED:
            return "550 5.1.1 <nobody@example.com>: user unknown"
        if address == DEFERRED:
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


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


def test_a_bounced_send_records_nothing_and_publishes_nothing(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    with pytest.raises(PermanentRejection):
        send(db, {"to": REJECTED, "subject": "Hi", "text": "x"})
    with db() as session:
        assert session.scalars(select(SentEmail)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []


def test_an_attachment_that_is_not_base64_is_refused_before_sending(
    wired: RecordingHandler, db: sessionmaker[Session]
) -> None:
    payload = {
        "to": "buyer@example.com",
        "subject": "Hi",
        "text": "x",
        "attachments": [{"filename": "a.bin", "content_base64": "not base64!!"}],
    }
    with pytest.raises(ValueError) as info:
        send(db, payload)
    assert classify(info.value) is FailureClass.VALIDATION
    assert wired.messages == []
