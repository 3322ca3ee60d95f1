"""SMS: the real twilio SDK against the local Twilio Messages API, and the SMS handlers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.adapters.twilio_sms import SmsRejected, TwilioSms
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.localtwilio import LocalTwilio
from switchboard_integrations.models import SmsMessage
from switchboard_integrations.sms import apply_status, send_sms
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.gateway import TwilioStatusReceived
from switchboard_shared.contracts.integrations import SendSms
from switchboard_shared.failures import FailureClass, ProviderError, ValidationFailure, classify
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import provider_secrets, wait_until
from switchboard_shared.uow import SqlAlchemyUnitOfWork
from twilio.request_validator import RequestValidator

pytestmark = pytest.mark.integration
SID = "AC00000000000000000000000000000000"
TOKEN = provider_secrets()["TWILIO_AUTH_TOKEN"]


class CallbackSink:
    """Where Twilio posts status callbacks: keeps each form and whether its signature holds."""

    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bool]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"])).decode()
                form = dict(parse_qsl(body))
                signature = self.headers.get("x-twilio-signature", "")
                valid = RequestValidator(TOKEN).validate(sink.url, form, signature)
                sink.posts.append((form, valid))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/twilio/status"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def statuses(self) -> list[str]:
        return [form["MessageStatus"] for form, _ in self.posts]


@pytest.fixture
def twilio() -> Iterator[LocalTwilio]:
    server = LocalTwilio(TOKEN, port=0, callback_delay=0.05).start()
    yield server
    server.stop()


@pytest.fixture
def sink() -> Iterator[CallbackSink]:
    server = CallbackSink()
    yield server
    server.server.shutdown()
    server.server.server_close()


def client(twilio: LocalTwilio, token: str = TOKEN) -> TwilioSms:
    return TwilioSms(SID, token, twilio.url, "+15005550006", timeout=5)


def test_the_sdk_sends_and_fetches_and_callbacks_are_signed_like_twilios(
    twilio: LocalTwilio, sink: CallbackSink
) -> None:
    sent = client(twilio).send("+14155552671", "Your order shipped", sink.url)
    assert sent.sid.startswith("SM") and sent.status == "queued"
    wait_until(lambda: len(sink.posts) == 3, 10)
    assert sink.statuses() == ["queued", "sent", "delivered"]
    assert all(valid for _, valid in sink.posts), "RequestValidator must accept each callback"
    fetched = client(twilio).client.messages(sent.sid).fetch()
    assert (fetched.status, fetched.to, fetched.body) == (
        "delivered",
        "+14155552671",
        "Your order shipped",
    )


def test_a_magic_failing_number_is_refused_and_another_is_undelivered(
    twilio: LocalTwilio, sink: CallbackSink
) -> None:
    with pytest.raises(SmsRejected) as refused:
        client(twilio).send("+15005550001", "hi", sink.url)
    assert refused.value.code == 21211
    assert classify(refused.value) is FailureClass.PROVIDER_4XX
    client(twilio).send("+15005550010", "hi", sink.url)
    wait_until(lambda: len(sink.posts) == 3, 10)
    assert sink.statuses() == ["queued", "sent", "undelivered"]
    assert sink.posts[-1][0]["ErrorCode"] == "30003"


def test_wrong_credentials_are_a_provider_4xx(twilio: LocalTwilio) -> None:
    client(twilio).check_credentials()
    with pytest.raises(ProviderError) as info:
        client(twilio, token="wrong").check_credentials()
    assert info.value.status == 401 and classify(info.value) is FailureClass.PROVIDER_4XX


# --- the handlers ----------------------------------------------------------------------


def uow(db: sessionmaker[Session]) -> SqlAlchemyUnitOfWork:
    return SqlAlchemyUnitOfWork(db, service="integrations", context=MessageContext.new("t"))


def send(db: sessionmaker[Session], twilio: LocalTwilio, to: str) -> dict[str, Any]:
    command = SendSms(sms_id=f"sms_{abs(hash(to)):012d}", to=to, body="hi")
    with uow(db) as work:
        result = send_sms(
            command, work, client(twilio), IntegrationsSettings(twilio_auth_token=TOKEN)
        )
        work.commit()
        return result


def status(db: sessionmaker[Session], sid: str, state: str, error: str | None = None) -> None:
    with uow(db) as work:
        apply_status(TwilioStatusReceived(message_sid=sid, status=state, error_code=error), work)
        work.commit()


def published(db: sessionmaker[Session]) -> list[tuple[str, dict[str, Any]]]:
    with db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        return [(row.event_type, row.envelope["data"]) for row in rows]


def test_an_sms_is_sent_then_followed_to_delivered_once(
    twilio: LocalTwilio, db: sessionmaker[Session]
) -> None:
    result = send(db, twilio, "+14155552671")
    assert result["status"] == "queued"
    for state in ("sent", "delivered", "delivered", "sent"):
        status(db, result["sid"], state)
    assert [kind for kind, _ in published(db)] == ["sms-sent", "sms-delivered"]
    with db() as session:
        assert session.scalars(select(SmsMessage.status)).all() == ["delivered"]


def test_refused_and_undelivered_messages_are_sms_failed(
    twilio: LocalTwilio, db: sessionmaker[Session]
) -> None:
    refused = send(db, twilio, "+15005550001")
    assert refused["status"] == "failed" and "21211" in refused["error"]
    sent = send(db, twilio, "+15005550010")
    status(db, sent["sid"], "undelivered", "30003")
    kinds = [(kind, data.get("reason", "")) for kind, data in published(db)]
    assert [kind for kind, _ in kinds] == ["sms-failed", "sms-sent", "sms-failed"]
    assert "21211" in kinds[0][1] and "30003" in kinds[2][1]


def test_a_number_that_is_not_e164_is_a_validation_failure(
    twilio: LocalTwilio, db: sessionmaker[Session]
) -> None:
    with pytest.raises(ValidationFailure, match=r"E\.164"):
        send(db, twilio, "+15555550100")
    assert published(db) == []
