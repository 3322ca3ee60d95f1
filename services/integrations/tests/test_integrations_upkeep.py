"""The sync job against a real paginated HTTP API, and the health check of every integration."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_integrations.adapters.external_api import HttpExternalSource
from switchboard_integrations.adapters.probe import TcpProbe
from switchboard_integrations.adapters.twilio_sms import TwilioSms
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.localtwilio import LocalTwilio
from switchboard_integrations.models import (
    IntegrationHealth,
    SyncedRecord,
    WebhookEndpoint,
)
from switchboard_integrations.upkeep import check_health, sync_external
from switchboard_shared.context import MessageContext
from switchboard_shared.netguard import AddressPolicy
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import free_port, provider_secrets
from switchboard_shared.uow import SqlAlchemyUnitOfWork

TOKEN = provider_secrets()["TWILIO_AUTH_TOKEN"]
pytestmark = pytest.mark.integration


class ExternalApi:
    """`/records` in two pages; `/blip` fails once with 503 then serves; `/down` always 500."""

    def __init__(self) -> None:
        self.records = [
            {"id": 1, "name": "Acme"},
            {"id": 2, "name": "Bolt"},
            {"id": 3, "name": "Cog"},
        ]
        self.hits: dict[str, int] = {}
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                api.hits[path] = api.hits.get(path, 0) + 1
                if path == "/down" or (path == "/blip" and api.hits[path] == 1):
                    return self.answer(503 if path == "/blip" else 500, {"error": "no"})
                if "page=2" in self.path:
                    return self.answer(200, {"items": api.records[2:], "next": None})
                self.answer(200, {"items": api.records[:2], "next": f"{path}?page=2"})

            def answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def api() -> Iterator[ExternalApi]:
    server = ExternalApi()
    yield server
    server.server.shutdown()
    server.server.server_close()


def in_uow(db: sessionmaker[Session], fn: Any, *args: Any) -> Any:
    with SqlAlchemyUnitOfWork(db, service="integrations", context=MessageContext.new("t")) as uow:
        result = fn(uow, *args)
        uow.commit()
        return result


def events(db: sessionmaker[Session]) -> list[tuple[str, dict[str, Any]]]:
    with db() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at)).all()
        return [(row.event_type, row.envelope["data"]) for row in rows]


def sync(db: sessionmaker[Session], url: str) -> dict[str, Any]:
    settings = IntegrationsSettings(sync_url=url, sync_source="suppliers", twilio_auth_token=TOKEN)
    return in_uow(db, sync_external, HttpExternalSource(timeout=5), settings)  # type: ignore[no-any-return]


def test_sync_pulls_every_page_into_the_store_and_says_what_changed(
    api: ExternalApi, db: sessionmaker[Session]
) -> None:
    assert sync(db, f"{api.url}/records")["created"] == 3
    api.records[0]["name"] = "Acme Ltd"
    assert sync(db, f"{api.url}/records") == {
        "status": "completed",
        "fetched": 3,
        "created": 0,
        "updated": 1,
    }
    with db() as session:
        names = session.scalars(select(SyncedRecord.data)).all()
    assert sorted(n["name"] for n in names) == ["Acme Ltd", "Bolt", "Cog"]
    assert [kind for kind, _ in events(db)] == ["sync-completed", "sync-completed"]


def test_a_blip_is_retried_in_call_and_an_outage_is_sync_failed(
    api: ExternalApi, db: sessionmaker[Session]
) -> None:
    assert sync(db, f"{api.url}/blip")["status"] == "completed"
    assert api.hits["/blip"] == 3  # 503, then page 1 and page 2
    failed = sync(db, f"{api.url}/down")
    assert failed["status"] == "failed" and "500" in failed["reason"]
    assert api.hits["/down"] == 3  # tenacity's three tries
    assert [kind for kind, _ in events(db)] == ["sync-completed", "sync-failed"]


def test_no_sync_url_means_no_sync() -> None:
    assert (
        sync_external(None, None, IntegrationsSettings(sync_url="", twilio_auth_token=TOKEN))[
            "status"
        ]
        == "skipped"
    )  # type: ignore[arg-type]


def test_the_health_check_covers_every_endpoint_and_the_provider_credentials(
    api: ExternalApi, db: sessionmaker[Session]
) -> None:
    twilio = LocalTwilio(TOKEN, port=0).start()
    try:
        with db() as session, session.begin():
            for name, url in [
                ("ep_up", f"{api.url}/hook"),
                ("ep_down", f"http://127.0.0.1:{free_port()}/hook"),
                ("ep_metadata", "http://169.254.169.254/latest/"),
            ]:
                session.add(WebhookEndpoint(id=name, url=url, secret="s" * 16, event_types=[]))
        probe = TcpProbe(AddressPolicy(allow_private=True), timeout=2)
        good = TwilioSms(twilio.account_sid, twilio.auth_token, twilio.url, "+15005550006", 5)
        result = in_uow(db, check_health, probe, good)
        checks = result["checks"]
        assert checks["webhook-endpoint:ep_up"] is None and checks["twilio"] is None
        assert checks["webhook-endpoint:ep_down"].startswith("unreachable")
        assert "metadata" in checks["webhook-endpoint:ep_metadata"]
        assert result["healthy"] is False
        bad = TwilioSms(twilio.account_sid, "wrong-token", twilio.url, "+15005550006", 5)
        assert "401" in in_uow(db, check_health, probe, bad)["checks"]["twilio"]
    finally:
        twilio.stop()
    with db() as session:
        stored = {row.name: row.ok for row in session.scalars(select(IntegrationHealth))}
    assert stored == {
        "webhook-endpoint:ep_up": True,
        "webhook-endpoint:ep_down": False,
        "webhook-endpoint:ep_metadata": False,
        "twilio": False,
    }
