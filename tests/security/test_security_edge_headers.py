"""Issue 17, item 15: the smaller holes at the edge.

(a) A caller's `X-Correlation-Id` named another order's id, and the events of the work it
started joined that order's timeline (real orders and gateway workers). (b) A CRLF in an
attachment's content type was accepted, to fail at send time. (c) uvicorn believed any
`X-Forwarded-For` its environment told it to. (d) `/docs` could not be turned off.
"""

from __future__ import annotations

import base64
import copy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from security_gateway import AUTH, ORDER, LiveGateway, gateway_settings, live_gateway
from switchboard_gateway.main import create_app
from switchboard_gateway.serve import uvicorn_config
from switchboard_shared.testsupport import redis_database, wait_until

pytestmark = pytest.mark.integration
UNTRUSTED_PEER = "198.51.100.7"
FORGED_CLIENT = "203.0.113.66"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("edge"), "orders", "gateway") as live:
        yield live


def timeline(platform: LiveGateway, order_id: str) -> list[dict[str, Any]]:
    response = platform.client.get(f"/api/v1/orders/{order_id}", headers=AUTH)
    return list(response.json()["timeline"]) if response.status_code == 200 else []


@pytest.mark.e2e
def test_a_callers_correlation_id_never_joins_another_orders_timeline(
    platform: LiveGateway,
) -> None:
    victim = platform.client.post("/api/v1/orders", json=ORDER, headers=AUTH).json()["order_id"]
    wait_until(lambda: timeline(platform, victim), 60, 0.2)

    attack = {"name": "orders.create", "args": {**copy.deepcopy(ORDER), "order_id": "ord_mine"}}
    headers = {**AUTH, "X-Correlation-Id": victim}
    assert platform.client.post("/api/v1/tasks", json=attack, headers=headers).status_code == 202
    mine = "/api/v1/orders/ord_mine"  # its view comes with its order-created, in one write
    wait_until(lambda: platform.client.get(mine, headers=AUTH).status_code == 200, 60, 0.2)

    assert {event["data"]["order_id"] for event in timeline(platform, victim)} == {victim}
    assert [event["type"] for event in timeline(platform, "ord_mine")] == ["order-created"]


def test_a_crlf_in_an_attachment_content_type_is_a_422(platform: LiveGateway) -> None:
    attachment = {
        "filename": "invoice.pdf",
        "content_type": "application/pdf\r\nBcc: victim@example.com",
        "content_base64": base64.b64encode(b"%PDF-1.7").decode(),
    }
    email = {"to": "ada@example.com", "subject": "Invoice", "text": "Attached."}

    response = platform.client.post(
        "/api/v1/emails", json={**email, "attachments": [attachment]}, headers=AUTH
    )

    assert response.status_code == 422, response.text
    fields = [detail["field"] for detail in response.json()["error"]["details"]]
    assert fields == ["attachments[0].content_type"]


def client_seen(app: Any, caplog: pytest.LogCaptureFixture) -> str:
    """The client address the gateway logs for a request from an untrusted peer that claims,
    in X-Forwarded-For, to be someone else."""
    caplog.clear()
    with TestClient(app, client=(UNTRUSTED_PEER, 40000)) as client:
        client.get("/api/v1/health", headers={"X-Forwarded-For": FORGED_CLIENT})
    [record] = [r for r in caplog.records if getattr(r, "path", None) == "/api/v1/health"]
    return str(record.client)  # type: ignore[attr-defined]


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.gateway")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # what plain `uvicorn --proxy-headers` obeys
    with redis_database() as redis_url:
        default = gateway_settings(tmp_path, "memory://", redis_url)
        proxied = gateway_settings(
            tmp_path, "memory://", redis_url, forwarded_allow_ips=UNTRUSTED_PEER
        )
        served = [uvicorn_config(create_app(s), s, "127.0.0.1", 0) for s in (default, proxied)]
        for config in served:
            config.load()

        assert client_seen(served[0].loaded_app, caplog) == UNTRUSTED_PEER
        assert client_seen(served[1].loaded_app, caplog) == FORGED_CLIENT, "a trusted proxy"


def test_the_api_docs_can_be_turned_off(tmp_path: Path) -> None:
    with redis_database() as redis_url:
        settings = gateway_settings(tmp_path, "memory://", redis_url, docs_enabled=False)
        with TestClient(create_app(settings)) as client:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert client.get(path).status_code == 404, path
            assert client.get("/api/v1/health").status_code == 200
        on = gateway_settings(tmp_path, "memory://", redis_url)
        with TestClient(create_app(on)) as client:
            assert client.get("/openapi.json").status_code == 200, "on by default, for local use"
