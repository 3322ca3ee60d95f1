"""SES through the real boto3 client against moto's server mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from email_harness import Sender, email_db, wired
from moto.server import ThreadedMotoServer
from switchboard_email.adapters.ses import SesMailer
from switchboard_email.bootstrap import make_mailer
from switchboard_email.composing import compose
from switchboard_email.config import EmailSettings
from switchboard_email.rendering import Rendered
from switchboard_shared.failures import ClassifiedError, FailureClass, classify
from switchboard_shared.testsupport import free_port

pytestmark = pytest.mark.integration
SENDER = "Shop <shop@example.com>"


@pytest.fixture(scope="module")
def ses_url() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            env.setenv(name, value)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
        server.start()
        try:
            yield f"http://127.0.0.1:{server._port}"
        finally:
            server.stop()


def settings(url: str) -> EmailSettings:
    return EmailSettings(provider="ses", ses_endpoint_url=url, sender=SENDER, smtp_timeout=5)


def ses(url: str) -> object:
    return boto3.client("ses", region_name="us-east-1", endpoint_url=url)


def sent_count(url: str) -> int:
    return int(ses(url).get_send_quota()["SentLast24Hours"])  # type: ignore[attr-defined]


def test_the_ses_provider_sends_through_boto3(ses_url: str, tmp_path: Path) -> None:
    ses(ses_url).verify_email_identity(EmailAddress="shop@example.com")  # type: ignore[attr-defined]
    before = sent_count(ses_url)
    mailer = make_mailer(settings(ses_url))
    assert isinstance(mailer, SesMailer)
    with email_db(tmp_path) as db, wired(settings(ses_url), mailer):
        result = Sender(db).send(
            {"to": "ada@example.com", "subject": "Invoice", "text": "hi", "html": "<p>hi</p>"}
        )
    assert result["status"] == "sent"
    assert sent_count(ses_url) == before + 1


def test_an_unverified_sender_is_a_final_provider_error_not_a_bounce(ses_url: str) -> None:
    mailer = SesMailer(settings(ses_url))
    message = compose("nobody@unverified.example", "ada@example.com", Rendered("Hi", "x", None))
    with pytest.raises(ClassifiedError, match="MessageRejected") as info:
        mailer.send(message)
    assert classify(info.value) is FailureClass.PROVIDER_4XX


def test_an_unreachable_ses_endpoint_is_a_network_failure() -> None:
    mailer = SesMailer(settings(f"http://127.0.0.1:{free_port()}"))
    message = compose(SENDER, "ada@example.com", Rendered("Hi", "x", None))
    with pytest.raises(ClassifiedError, match="SES unreachable") as info:
        mailer.send(message)
    assert classify(info.value) is FailureClass.NETWORK
