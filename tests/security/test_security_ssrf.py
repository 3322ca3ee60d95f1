"""Issue 17, item 11: outbound webhooks must not reach internal addresses or non-web ports.

The attacks: an endpoint registered at a NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`),
IPv4-compatible (`::/96`) or site-local (`fec0::/10`) address passed the SSRF guard, and so did
any port (an internal Redis, SMTP or admin port behind an allowed address). Each test registers
the endpoint and delivers to it through integrations' real handlers and guarded HTTP client, on
SQLite and PostgreSQL, with a real TCP service standing for the internal one.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from security_gateway import AUTH, gateway_client, gateway_settings, live_gateway
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.adapters.dispatch import RecordingDispatcher
from switchboard_integrations.adapters.external_api import HttpExternalSource
from switchboard_integrations.bootstrap import bootstrap
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.handlers import deliver_once
from switchboard_integrations.models import Base, SyncedRecord, WebhookAttempt
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Command
from switchboard_shared.contracts.integrations import (
    DeliverWebhook,
    RegisterWebhookEndpoint,
    SyncExternal,
)
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import HandlerRegistry, handle_command, handle_event
from switchboard_shared.netguard import AddressPolicy, UnsafeDestination, check_url
from switchboard_shared.records import OutboxMessage
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.testsupport import database_sessions
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration

SECRET = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
_ids = itertools.count(1)

# Each hides an internal IPv4 address (or is internal itself) in an IPv6 form the guard let by.
WRAPPED = [
    ("http://[64:ff9b::7f00:1]/hook", "loopback"),  # NAT64 of 127.0.0.1
    ("http://[64:ff9b::a00:5]/hook", "private"),  # NAT64 of 10.0.0.5
    ("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", "metadata"),  # NAT64 of 169.254.169.254
    ("http://[64:ff9b::c0a8:101]/hook", "private"),  # NAT64 of 192.168.1.1
    ("http://[64:ff9b:1::7f00:1]/hook", "local-use NAT64"),  # RFC 8215, site's own translator
    ("http://[64:ff9b:1:ffff::a00:5]/hook", "local-use NAT64"),
    ("http://[::7f00:1]/hook", "loopback"),  # IPv4-compatible 127.0.0.1
    ("http://[::a9fe:a9fe]/hook", "metadata"),  # IPv4-compatible 169.254.169.254
    ("http://[::a00:5]/hook", "private"),  # IPv4-compatible 10.0.0.5
    ("http://[fec0::1]/hook", "site-local"),
    ("http://[fec0:0:0:ffff::1]/hook", "site-local"),
    ("http://[feff:ffff::1]/hook", "site-local"),
]


class InternalService:
    """A TCP service on a non-web port (Redis, SMTP, an admin API): counts who connects."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.listener = socket.create_server((host, port))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.listener.close()


@dataclass
class WebReceiver:
    """An HTTP endpoint that answers 204 and keeps the paths it was posted to."""

    paths: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                paths.append(self.path)
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Integrations:
    """Integrations' handlers as its worker wires them (real guarded sender and probe)."""

    db: sessionmaker[Session]
    registry: HandlerRegistry

    def uow(self, context: MessageContext | None = None) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.db, service="integrations", context=context or MessageContext.new("attack")
        )

    def command(self, command: Command) -> Any:
        task_id = f"task-{next(_ids)}"
        context = MessageContext.new("attack", task_id)
        return handle_command(
            command.task_name, command.model_dump(), task_id, context, self.registry, self.uow
        )

    def deliver_order_matched_to(self, url: str) -> WebhookAttempt:
        """Register `url` (as the attacker does), publish an event, make one attempt."""
        self.command(
            RegisterWebhookEndpoint(
                endpoint_id=f"ep_{next(_ids):08d}", url=url, events=["order-matched"], secret=SECRET
            )
        )
        event = OrderMatched(
            order_id=f"ord_{next(_ids)}",
            supplier_id="sup_1",
            customer_email="ada@example.com",
            amount=100,
            currency="usd",
        )
        dispatcher: RecordingDispatcher = self.registry.dependencies["dispatcher"]
        before = len(dispatcher.sent)
        handle_event(
            wrap(event, service="orders", context=MessageContext.new("attack")),
            self.registry,
            self.uow,
        )
        [delivery_id] = dispatcher.sent[before:]
        with self.uow() as uow:
            self.registry.call(deliver_once, DeliverWebhook(delivery_id=delivery_id), uow)
        with self.db() as session:
            return session.scalars(
                select(WebhookAttempt).where(WebhookAttempt.message_id == delivery_id)
            ).one()

    def probe(self, url: str) -> str | None:
        """The health check's reachability probe of an endpoint, as wired for the worker."""
        return self.registry.dependencies["probe"].problem(url)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token-not-used-here")


@pytest.fixture
def db(database_url: str) -> Iterator[sessionmaker[Session]]:
    with database_sessions(database_url, Base.metadata) as sessions:
        yield sessions


def integrations(
    db: sessionmaker[Session], allow_private: bool, source: Any = None, **settings: Any
) -> Integrations:
    adapters = {"dispatcher": RecordingDispatcher(), **({"source": source} if source else {})}
    registry = bootstrap(
        IntegrationsSettings(
            webhook_timeout_seconds=2,
            webhook_connect_timeout_seconds=1,
            sync_timeout_seconds=2,
            **settings,
        ),
        PlatformSettings(allow_private_webhooks=allow_private),
        **adapters,
    )
    return Integrations(db, registry)


@pytest.fixture
def internal() -> Iterator[InternalService]:
    service = InternalService()
    yield service
    service.close()


@pytest.fixture
def receiver() -> Iterator[WebReceiver]:
    server = WebReceiver()
    yield server
    server.close()


@pytest.mark.parametrize(("url", "why"), WRAPPED)
def test_an_internal_address_wrapped_in_ipv6_is_refused_at_registration(url: str, why: str) -> None:
    """The gateway's check when an endpoint is registered (a 422)."""
    with pytest.raises(UnsafeDestination, match=why):
        check_url(url, AddressPolicy(allow_private=False))


def test_metadata_wrapped_in_ipv6_is_refused_even_with_private_webhooks_allowed() -> None:
    for url in (
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://[::a9fe:a9fe]/",
        "http://[64:ff9b::6464:64c8]/",
    ):
        with pytest.raises(UnsafeDestination, match="metadata"):
            check_url(url, AddressPolicy(allow_private=True))


def test_a_public_address_behind_the_nat64_prefix_is_still_allowed() -> None:
    """On an IPv6-only network with DNS64, every public host resolves into 64:ff9b::/96."""
    [address] = check_url("https://[64:ff9b::5db8:d822]/hook", AddressPolicy(allow_private=False))
    assert str(address) == "64:ff9b::5db8:d822"


@pytest.mark.parametrize(("url", "why"), WRAPPED)
def test_a_delivery_to_a_wrapped_internal_address_is_refused_before_connecting(
    db: sessionmaker[Session], url: str, why: str
) -> None:
    attempt = integrations(db, allow_private=False).deliver_order_matched_to(url)
    assert attempt.outcome != "delivered"
    assert (attempt.error or "").startswith("refused:"), attempt.error
    assert why in (attempt.error or "")


def test_a_delivery_to_a_non_web_port_is_refused_and_never_connects(
    db: sessionmaker[Session], internal: InternalService
) -> None:
    # Private webhooks allowed (a deploy whose endpoints live on its own network): the
    # address passes, so only the port stands between the attacker and the internal service.
    service = integrations(db, allow_private=True)
    url = f"http://127.0.0.1:{internal.port}/"
    attempt = service.deliver_order_matched_to(url)

    assert (attempt.error or "").startswith("refused:"), attempt.error
    assert f"port {internal.port}" in (attempt.error or "")
    problem = service.probe(url) or ""
    assert problem.startswith("refused:") and f"port {internal.port}" in problem, problem
    assert internal.connections == 0, "the worker connected to the internal service"


def test_a_port_the_deploy_allows_is_delivered_to(
    db: sessionmaker[Session], receiver: WebReceiver
) -> None:
    service = integrations(db, allow_private=True, webhook_allowed_ports=[receiver.port])
    attempt = service.deliver_order_matched_to(f"http://127.0.0.1:{receiver.port}/hook")

    assert (attempt.outcome, attempt.status_code, attempt.error) == ("delivered", 204, None)
    assert receiver.paths == ["/hook"]


def test_the_allowed_ports_setting_reads_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTEGRATIONS_WEBHOOK_ALLOWED_PORTS", "8443, 9000")
    assert IntegrationsSettings().webhook_allowed_ports == [8443, 9000]
    monkeypatch.setenv("INTEGRATIONS_WEBHOOK_ALLOWED_PORTS", "70000")
    with pytest.raises(ValueError, match="port"):
        IntegrationsSettings()


# Follow-up: the external sync followed the remote server's redirects and `next` links anywhere.
# The sync URL is the operator's; where its pages point is the remote server's choice. Each test
# runs the sync command through integrations' real handler and HTTP client against a real local
# API whose links point at a refused place, with a real TCP service there counting connections.
METADATA_URL = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


class SyncApi:
    """`/records` answers page 1 with `next` set to `self.next_link`; `/jump` redirects to
    `self.location`; `/moved` redirects to `/records`; `?page=2` is the last page."""

    def __init__(self) -> None:
        self.next_link = "/records?page=2"
        self.location = "/records"
        self.hits: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api.hits.append(self.path)
                if self.path.startswith(("/jump", "/moved")):
                    self.send_response(302)
                    where = api.location if self.path.startswith("/jump") else "/records"
                    self.send_header("location", where)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                last = "page=2" in self.path
                page = {"items": [{"id": 3}] if last else [{"id": 1}, {"id": 2}]}
                page["next"] = None if last else api.next_link  # type: ignore[assignment]
                body = json.dumps(page).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sync_api() -> Iterator[SyncApi]:
    server = SyncApi()
    yield server
    server.close()


def run_sync(service: Integrations) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The sync command as beat sends it, and the events it published."""
    result = service.command(SyncExternal())
    with service.db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        events = [(row.event_type, row.envelope["data"]) for row in rows]
    return result, events


def assert_sync_refused(service: Integrations, *signs: str) -> None:
    started = time.monotonic()
    result, events = run_sync(service)

    assert result["status"] == "failed", result
    assert "refused:" in result["reason"] and all(sign in result["reason"] for sign in signs)
    assert [kind for kind, _ in events] == ["sync-failed"]
    with service.db() as session:
        assert session.scalars(select(SyncedRecord)).all() == [], "nothing half-synced"
    assert time.monotonic() - started < 5, "refused at once, no connection attempted"


def test_a_sync_next_link_to_the_metadata_address_is_refused(
    db: sessionmaker[Session], sync_api: SyncApi
) -> None:
    sync_api.next_link = METADATA_URL
    service = integrations(db, allow_private=False, sync_url=f"{sync_api.url}/records")

    assert_sync_refused(service, "the next link", "169.254.169.254")
    assert sync_api.hits == ["/records"]


def test_a_sync_redirect_to_an_internal_port_is_refused_and_never_connects(
    db: sessionmaker[Session], sync_api: SyncApi, internal: InternalService
) -> None:
    sync_api.location = f"http://127.0.0.1:{internal.port}/admin"
    service = integrations(db, allow_private=False, sync_url=f"{sync_api.url}/jump")

    assert_sync_refused(service, "redirects to", f"127.0.0.1:{internal.port}")
    assert internal.connections == 0, "the worker connected to the internal service"


def test_a_sync_redirect_to_the_metadata_address_is_refused(
    db: sessionmaker[Session], sync_api: SyncApi
) -> None:
    sync_api.location = METADATA_URL
    service = integrations(db, allow_private=True, sync_url=f"{sync_api.url}/jump")

    assert_sync_refused(service, "redirects to", "169.254.169.254")


def test_a_sync_next_link_to_another_host_on_the_same_port_is_refused_and_never_connects(
    db: sessionmaker[Session], sync_api: SyncApi
) -> None:
    elsewhere = InternalService("127.0.0.2", sync_api.port)  # another host, a private one
    try:
        sync_api.next_link = f"http://127.0.0.2:{sync_api.port}/records?page=2"
        service = integrations(db, allow_private=False, sync_url=f"{sync_api.url}/records")

        assert_sync_refused(service, "the next link", "127.0.0.2")
        assert elsewhere.connections == 0
    finally:
        elsewhere.close()


def test_a_sync_url_at_the_metadata_address_is_refused_by_the_guard(
    db: sessionmaker[Session],
) -> None:
    service = integrations(db, allow_private=True, sync_url=METADATA_URL)
    assert_sync_refused(service, "metadata")


def test_redirects_and_next_links_on_the_sync_origin_are_still_followed(
    db: sessionmaker[Session], sync_api: SyncApi
) -> None:
    sync_api.next_link = f"{sync_api.url}/records?page=2"  # absolute, on the same origin
    service = integrations(db, allow_private=False, sync_url=f"{sync_api.url}/moved")

    result, _ = run_sync(service)
    assert result == {"status": "completed", "fetched": 3, "created": 3, "updated": 0}
    assert sync_api.hits == ["/moved", "/records", "/records?page=2"]


def test_the_sync_host_is_resolved_once_and_pinned_for_every_page(
    db: sessionmaker[Session], sync_api: SyncApi
) -> None:
    """DNS rebinding: the name answers the real API first and the metadata address after."""
    answers = [["127.0.0.1"], ["169.254.169.254"]]
    asked: list[tuple[str, int]] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers[min(len(asked), 2) - 1]

    url = f"http://api.sync.test:{sync_api.port}/records"
    service = integrations(
        db, allow_private=False, sync_url=url, source=HttpExternalSource(2, resolver=rebinding)
    )

    result, _ = run_sync(service)
    assert result["status"] == "completed" and result["fetched"] == 3, result
    assert asked == [("api.sync.test", sync_api.port)]


# Follow-up: the gateway accepted an endpoint on any port at registration; only the worker
# refused it, at delivery time. The gateway (in process, on the real broker and database) now
# refuses what the worker would, with a 422 naming `url`, before any command is sent.
ENDPOINTS = "/api/v1/webhook-endpoints"


def register(client: Any, url: str) -> Any:
    return client.post(ENDPOINTS, json={"url": url, "events": ["order-matched"]}, headers=AUTH)


def assert_url_refused(response: Any, *signs: str) -> None:
    assert response.status_code == 422, response.text
    [detail] = [d for d in response.json()["error"]["details"] if d["field"] == "url"]
    assert all(sign in detail["message"] for sign in signs), detail


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://127.0.0.1:6379/", 6379),  # this machine's Redis
        ("http://127.0.0.1:5432/", 5432),  # and its PostgreSQL
        ("http://[::1]:5672/", 5672),  # and its RabbitMQ
        ("https://93.184.215.14:22/hook", 22),  # a public address, an SSH port
    ],
)
def test_registering_an_endpoint_on_a_non_web_port_is_a_422_naming_url(
    tmp_path: Path, database_url: str, redis_url: str, url: str, port: int
) -> None:
    # Private webhooks allowed (endpoints on the deploy's own network): only the port check
    # stands between the caller and the internal services.
    settings = gateway_settings(tmp_path, redis_url, redis_url, allow_private_webhooks=True)
    with gateway_client(settings, database_url) as client:
        assert_url_refused(register(client, url), f"port {port} is not allowed", "80, 443")


def test_the_gateway_allowed_ports_setting_reads_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_WEBHOOK_ALLOWED_PORTS", "8443, 9000")
    assert gateway_settings(tmp_path, redis_url, redis_url).webhook_allowed_ports == [8443, 9000]
    monkeypatch.setenv("SWITCHBOARD_WEBHOOK_ALLOWED_PORTS", "0")
    with pytest.raises(ValueError, match="webhook_allowed_ports"):
        gateway_settings(tmp_path, redis_url, redis_url)


@pytest.mark.e2e
def test_a_configured_port_registers_through_the_gateway_and_another_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    receiver: WebReceiver,
    internal: InternalService,
) -> None:
    """Gateway and integrations worker on the same settings: the receiver's port is accepted
    end to end, the internal service's port never reaches the worker."""
    monkeypatch.setenv("SWITCHBOARD_ALLOW_PRIVATE_WEBHOOKS", "1")
    monkeypatch.setenv("SWITCHBOARD_WEBHOOK_ALLOWED_PORTS", str(receiver.port))
    monkeypatch.setenv("INTEGRATIONS_WEBHOOK_ALLOWED_PORTS", str(receiver.port))
    with live_gateway(tmp_path, "integrations") as live:
        refused = register(live.client, f"http://127.0.0.1:{internal.port}/hook")
        created = register(live.client, f"http://127.0.0.1:{receiver.port}/hook")
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint_id"]
        listed = live.client.get(f"{ENDPOINTS}/{endpoint}/deliveries", headers=AUTH)

    assert_url_refused(refused, f"port {internal.port} is not allowed", str(receiver.port))
    assert listed.status_code == 200 and listed.json()["endpoint_status"] == "active"
    assert internal.connections == 0
