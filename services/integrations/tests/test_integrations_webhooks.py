"""Signed outbound webhooks against a real local HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.adapters.webhooks import WebhookSender
from switchboard_integrations.bootstrap import bootstrap
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.handlers import registry
from switchboard_integrations.models import Base, WebhookDelivery
from switchboard_shared.context import MessageContext
from switchboard_shared.db import create_all, create_db_engine, create_session_factory
from switchboard_shared.failures import (
    ClassifiedError,
    FailureClass,
    ProviderError,
    classify,
    policies,
)
from switchboard_shared.messagebus import handle_command
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import free_port
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PAYLOAD = {"type": "order.matched", "data": {"order_id": "ord_1", "supplier": "sup_9"}}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    url: str
    received: list[Received] = field(default_factory=list)
    streamed: list[int] = field(default_factory=list)


def make_handler(endpoint: Endpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            endpoint.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            route = getattr(self, "route_" + self.path.strip("/").replace("-", "_"), None)
            (route or self.route_ok)()

        def reply(self, status: int, body: bytes = b"", **headers: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def route_ok(self) -> None:
            self.reply(200, b'{"received":true}')

        def route_fail(self) -> None:
            self.reply(500, b"internal error")

        def route_missing(self) -> None:
            self.reply(404, b"no such endpoint")

        def route_busy(self) -> None:
            self.reply(503, b"busy", retry_after="120")

        def route_throttle(self) -> None:
            self.reply(429, b"slow down", retry_after="30")

        def route_moved(self) -> None:
            self.reply(302, b"", location="http://127.0.0.1:1/elsewhere")

        def route_slow(self) -> None:
            time.sleep(2)
            self.reply(200, b"too late")

        def route_huge(self) -> None:
            # An endpoint that answers with a body far too big to read: 200 MB, streamed.
            self.send_response(200)
            self.send_header("content-length", str(200 * 1024 * 1024))
            self.end_headers()
            chunk = b"x" * 65536
            sent = 0
            try:
                while sent < 200 * 1024 * 1024:
                    self.wfile.write(chunk)
                    sent += len(chunk)
            except OSError:
                pass
            endpoint.streamed.append(sent)

    return Handler


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(Endpoint("")))
    endpoint = Endpoint(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = make_handler(endpoint)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()


def sender(timeout: float = 5.0, max_bytes: int = 64 * 1024) -> WebhookSender:
    return WebhookSender(timeout, max_bytes)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's Standard Webhooks check, written from the spec (not from the sender)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(f"v1,{expected}", candidate)
        for candidate in headers["webhook-signature"].split(" ")
    )


def test_delivered_webhook_carries_a_verifiable_standard_webhooks_signature(
    endpoint: Endpoint,
) -> None:
    before = int(time.time())
    result = sender().send(f"{endpoint.url}/ok", SECRET, "msg_abc", PAYLOAD)

    assert result.status_code == 200
    assert result.body_excerpt == '{"received":true}'
    [request] = endpoint.received
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "msg_abc"
    assert before <= int(request.headers["webhook-timestamp"]) <= int(time.time())
    assert json.loads(request.body) == PAYLOAD
    assert verify(SECRET, request.headers, request.body)


def test_a_tampered_body_or_another_secret_does_not_verify(endpoint: Endpoint) -> None:
    sender().send(f"{endpoint.url}/ok", SECRET, "msg_abc", PAYLOAD)
    [request] = endpoint.received
    assert not verify(SECRET, request.headers, request.body.replace(b"ord_1", b"ord_2"))
    other = "whsec_" + base64.b64encode(b"another-secret-another-secret!!!").decode()
    assert not verify(other, request.headers, request.body)
    assert not verify(SECRET, {**request.headers, "webhook-id": "msg_other"}, request.body)


def test_a_plain_secret_signs_with_its_utf8_bytes(endpoint: Endpoint) -> None:
    sender().send(f"{endpoint.url}/ok", "plain-secret-123", "msg_1", PAYLOAD)
    [request] = endpoint.received
    signed = f"msg_1.{request.headers['webhook-timestamp']}.".encode() + request.body
    digest = hmac.new(b"plain-secret-123", signed, hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == f"v1,{base64.b64encode(digest).decode()}"


def test_a_500_is_a_provider_5xx_that_retries(endpoint: Endpoint) -> None:
    with pytest.raises(ProviderError) as info:
        sender().send(f"{endpoint.url}/fail", SECRET, "m", PAYLOAD)
    assert info.value.status == 500
    assert "500" in str(info.value) and "internal error" in str(info.value)
    assert classify(info.value) is FailureClass.PROVIDER_5XX
    assert policies()[FailureClass.PROVIDER_5XX].retries


def test_a_404_is_a_provider_4xx_that_never_retries(endpoint: Endpoint) -> None:
    with pytest.raises(ProviderError) as info:
        sender().send(f"{endpoint.url}/missing", SECRET, "m", PAYLOAD)
    assert info.value.status == 404
    assert classify(info.value) is FailureClass.PROVIDER_4XX
    assert not policies()[FailureClass.PROVIDER_4XX].retries


@pytest.mark.parametrize(
    ("path", "status", "retry_after"), [("busy", 503, 120), ("throttle", 429, 30)]
)
def test_retry_after_of_a_busy_endpoint_is_kept(
    endpoint: Endpoint, path: str, status: int, retry_after: float
) -> None:
    with pytest.raises(ProviderError) as info:
        sender().send(f"{endpoint.url}/{path}", SECRET, "m", PAYLOAD)
    assert info.value.status == status
    assert info.value.retry_after == retry_after
    assert classify(info.value) is FailureClass.PROVIDER_5XX
    assert policies()[FailureClass.PROVIDER_5XX].countdown(0, info.value.retry_after) >= retry_after


def test_a_slow_endpoint_is_a_timeout(endpoint: Endpoint) -> None:
    started = time.monotonic()
    with pytest.raises(ClassifiedError, match="timed out") as info:
        sender(timeout=0.3).send(f"{endpoint.url}/slow", SECRET, "m", PAYLOAD)
    assert time.monotonic() - started < 1.5
    assert classify(info.value) is FailureClass.TIMEOUT


def test_an_unreachable_endpoint_is_a_network_failure() -> None:
    with pytest.raises(ClassifiedError, match="unreachable") as info:
        sender().send(f"http://127.0.0.1:{free_port()}/ok", SECRET, "m", PAYLOAD)
    assert classify(info.value) is FailureClass.NETWORK


def test_a_huge_response_is_read_only_up_to_the_cap(endpoint: Endpoint) -> None:
    started = time.monotonic()
    result = sender(timeout=10, max_bytes=4096).send(f"{endpoint.url}/huge", SECRET, "m", PAYLOAD)
    assert result.status_code == 200
    assert len(result.body_excerpt) <= 500
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while not endpoint.streamed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert endpoint.streamed and endpoint.streamed[0] < 200 * 1024 * 1024, (
        "the sender hung up instead of reading it all"
    )


def test_a_redirect_is_not_a_delivery(endpoint: Endpoint) -> None:
    with pytest.raises(ClassifiedError):
        sender().send(f"{endpoint.url}/moved", SECRET, "m", PAYLOAD)


# --- the deliver_webhook command, end to end ---------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'integrations.db'}")
    create_all(engine, Base.metadata)
    yield create_session_factory(engine)
    engine.dispose()


@pytest.fixture
def wired() -> Iterator[None]:
    saved = dict(registry.dependencies)
    bootstrap(registry, IntegrationsSettings(webhook_timeout_seconds=2))
    try:
        yield
    finally:
        registry.dependencies.clear()
        registry.dependencies.update(saved)


def deliver(db: sessionmaker[Session], url: str, task_id: str = "task-1") -> Any:
    return handle_command(
        "integrations.deliver_webhook",
        {"url": url, "secret": SECRET, "event_type": "order.matched", "payload": PAYLOAD},
        task_id,
        MessageContext.new("ord_1", causation_id=task_id),
        registry,
        lambda context: SqlAlchemyUnitOfWork(db, service="integrations", context=context),
    )


def test_deliver_webhook_records_the_delivery_and_announces_it(
    endpoint: Endpoint, db: sessionmaker[Session], wired: None
) -> None:
    result = deliver(db, f"{endpoint.url}/ok")

    assert result == {"delivery_id": "msg_task-1", "status_code": 200}
    [request] = endpoint.received
    assert request.headers["webhook-id"] == "msg_task-1"
    assert verify(SECRET, request.headers, request.body)
    with db() as session:
        [delivery] = session.scalars(select(WebhookDelivery)).all()
        assert (delivery.id, delivery.status_code) == ("msg_task-1", 200)
        [row] = session.scalars(select(OutboxMessage)).all()
        assert row.event_type == "webhook-delivered"
        assert row.envelope["data"]["delivery_id"] == "msg_task-1"
        assert row.envelope["correlationid"] == "ord_1"


def test_the_same_command_twice_posts_once(
    endpoint: Endpoint, db: sessionmaker[Session], wired: None
) -> None:
    assert deliver(db, f"{endpoint.url}/ok") == deliver(db, f"{endpoint.url}/ok")
    assert len(endpoint.received) == 1


def test_a_failed_delivery_records_nothing(
    endpoint: Endpoint, db: sessionmaker[Session], wired: None
) -> None:
    with pytest.raises(ProviderError):
        deliver(db, f"{endpoint.url}/fail")
    with db() as session:
        assert session.scalars(select(WebhookDelivery)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []
