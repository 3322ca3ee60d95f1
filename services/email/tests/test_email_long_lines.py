"""A body line longer than SMTP allows (998 characters) still reaches a real SMTP server.

Bodies went out as 7bit, unwrapped: aiosmtpd (as any server) answered "500 Line too long",
the recipient was marked bounced and its address suppressed for good. Each part's transfer
encoding is now the email package's choice (quoted-printable or base64 for long or non-ASCII
lines), so a long URL or a generated HTML line arrives and decodes back to what was sent.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from email_harness import Sender, email_db, wired
from smtp_server import RecordingHandler, smtp_server
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_email import bulk, campaigns
from switchboard_email.config import EmailSettings
from switchboard_email.handlers import registry
from switchboard_email.models import Suppression
from switchboard_shared.contracts.email import SendBulkEmail

pytestmark = pytest.mark.integration

LINE = 5000
# A tracking link and a generated HTML line, each one line of exactly LINE characters.
LONG_URL = ("https://shop.example.com/track?" + "&".join(f"k{i}=v{i}" for i in range(LINE)))[:LINE]
LONG_HTML = ("<span>café crème №1</span>" * LINE)[:LINE]
TEXT = f"Hello Ada,\n\nTrack your parcel:\n{LONG_URL}\n\nThanks, the shop"
HTML = f"<p>Hello Ada,</p>\n{LONG_HTML}\n<p>Thanks, the shop</p>"
CSV = ("sku," + "x" * LINE + "\nrose,2\n").encode()


@pytest.fixture
def smtp() -> Iterator[tuple[RecordingHandler, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    with email_db(tmp_path) as factory:
        yield factory


@pytest.fixture
def handler(smtp: tuple[RecordingHandler, int]) -> Iterator[RecordingHandler]:
    """Email's registry wired to the real SmtpMailer, pointed at the real server."""
    server, port = smtp
    settings = EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout=5,
        sender="Shop <shop@example.com>",
        bulk_slice_size=10,
        bulk_lanes=1,
    )
    with wired(settings):
        yield server


def decoded(message: EmailMessage, kind: str) -> str:
    """The `kind` body as the receiver decodes it: MIME's canonical CRLF line ends read as
    "\n", less the line end that closes every body."""
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content()).replace("\r\n", "\n").removesuffix("\n")


def assert_arrived_whole(message: EmailMessage) -> None:
    assert len(LONG_URL) == len(LONG_HTML) == LINE
    assert decoded(message, "plain") == TEXT
    assert decoded(message, "html") == HTML


def suppressions(db: sessionmaker[Session]) -> list[str]:
    with db() as session:
        return list(session.scalars(select(Suppression.address)))


def test_a_single_send_with_a_5000_character_line_arrives_whole_and_suppresses_nobody(
    handler: RecordingHandler, db: sessionmaker[Session]
) -> None:
    payload: dict[str, Any] = {
        "to": "ada@example.com",
        "subject": "Your parcel",
        "text": TEXT,
        "html": HTML,
        "attachments": [
            {
                "filename": "lines.csv",
                "content_type": "text/csv",
                "content_base64": base64.b64encode(CSV).decode(),
            }
        ],
    }
    result = Sender(db).send(payload)

    assert result["status"] == "sent", result
    [received] = handler.messages
    assert_arrived_whole(received)
    [attachment] = received.iter_attachments()
    assert attachment.get_payload(decode=True) == CSV
    assert suppressions(db) == []
    again = Sender(db).send({**payload, "subject": "Your parcel, again"}, message_id="task-2")
    assert again["status"] == "sent", again


def run_campaign(db: sessionmaker[Session], command: SendBulkEmail) -> None:
    """Open the campaign, then send its one lane slice by slice until it finishes."""
    with Sender(db).uow() as uow:
        registry.call(campaigns.open_campaign, command, uow, campaign_id="c1")
    for _ in range(10):
        with Sender(db).uow() as uow:
            step: bulk.Slice = registry.call(bulk.send_slice, "c1", uow, lane=0)
        if step.finished:
            return
    pytest.fail("the campaign did not finish")


def test_a_bulk_send_with_a_5000_character_line_arrives_whole_and_suppresses_nobody(
    handler: RecordingHandler, db: sessionmaker[Session]
) -> None:
    addresses = ["ada@example.com", "grace@example.com"]
    command = SendBulkEmail(
        subject="Your parcel",
        text=TEXT,
        html=HTML,
        recipients=[{"to": address} for address in addresses],
    )
    run_campaign(db, command)

    assert handler.to() == addresses
    for received in handler.messages:
        assert_arrived_whole(received)
    with db() as session:
        outcomes = campaigns.campaign_result(session, "c1")["recipients"]
    assert [(r["to"], r["outcome"]) for r in outcomes] == [(a, "sent") for a in addresses]
    assert suppressions(db) == []
