"""Webhook endpoints, SMS and Twilio status callbacks at the gateway (recording sender)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import SECRETS, RecordingSender
from sqlalchemy import select
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_gateway.models import InboundWebhook, RefusedWebhook
from switchboard_gateway.sender import BrokerUnavailable, CommandTimeout
from switchboard_integrations.localtwilio import twilio_signature
from switchboard_shared.contracts.integrations import SendSms
from switchboard_shared.records import OutboxMessage

ENDPOINT = "ep_0123456789abcdef"
DELIVERY = "msg_0123456789abcdef01234567"
STATUS_URL = "http://127.0.0.1:8000/webhooks/twilio/status"
TOKEN = SECRETS["TWILIO_AUTH_TOKEN"]  # the gateway fixture's token


def post_endpoint(client: TestClient, auth: dict[str, str], url: str, **extra: Any) -> Any:
    body = {"url": url, "events": ["order-matched"], **extra}
    return client.post("/api/v1/webhook-endpoints", json=body, headers=auth)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8080/hook",
        "http://2130706433/hook",
        "http://[::1]/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ],
)
def test_an_unsafe_url_is_422_naming_the_url_and_nothing_is_sent(
    client: TestClient, auth: dict[str, str], sender: RecordingSender, url: str
) -> None:
    answer = post_endpoint(client, auth, url)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["field"] for d in error["details"]] == ["url"]
    assert "URL refused" in error["details"][0]["message"]
    assert sender.sent == []


@pytest.fixture
def open_client(settings: GatewaySettings, sender: RecordingSender) -> Any:
    permissive = settings.model_copy(
        update={"allow_private_webhooks": True, "webhook_allowed_ports": [9]}
    )
    with TestClient(create_app(permissive, sender)) as test_client:
        yield test_client


def test_the_flag_allows_private_urls_but_never_metadata_ones(
    open_client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    sender.answers["integrations.register_webhook_endpoint"] = {"endpoint_id": "ep_0123456789"}
    created = post_endpoint(open_client, auth, "http://127.0.0.1:9/hook")
    assert created.status_code == 201, created.text
    [sent] = sender.sent
    assert sent.command.url == "http://127.0.0.1:9/hook"  # type: ignore[attr-defined]
    assert created.json()["secret"] == sent.command.secret  # type: ignore[attr-defined]
    assert created.json()["secret"].startswith("whsec_")
    for url in ("http://169.254.169.254/", "http://[fd00:ec2::254]/"):
        assert post_endpoint(open_client, auth, url).status_code == 422


def test_unknown_event_types_are_422_naming_the_events(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = {"url": "https://93.184.216.34/hook", "events": ["order-matched", "no-such-event"]}
    answer = client.post("/api/v1/webhook-endpoints", json=body, headers=auth)
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["events"]
    body["events"] = ["webhook-delivered"]  # would loop: never deliverable
    assert client.post("/api/v1/webhook-endpoints", json=body, headers=auth).status_code == 422


def test_deliveries_and_replays_answer_from_the_integrations_service(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    base = f"/api/v1/webhook-endpoints/{ENDPOINT}/deliveries"
    sender.answers["integrations.list_webhook_deliveries"] = {"found": False}
    assert client.get(base, headers=auth).status_code == 404
    item = {"delivery_id": DELIVERY, "attempt": 1, "outcome": "delivered"}
    sender.answers["integrations.list_webhook_deliveries"] = {
        "found": True,
        "items": [item],
        "total": 1,
        "endpoint_status": "active",
    }
    listed = client.get(f"{base}?limit=10", headers=auth).json()
    assert (listed["items"], listed["total"], listed["limit"]) == ([item], 1, 10)
    replay = f"{base}/{DELIVERY}/replay"
    sender.answers["integrations.replay_webhook_delivery"] = {"found": False}
    assert client.post(replay, headers=auth).status_code == 404
    sender.answers["integrations.replay_webhook_delivery"] = {"found": True, "replayed": False}
    assert client.post(replay, headers=auth).status_code == 409
    sender.answers["integrations.replay_webhook_delivery"] = {"found": True, "replayed": True}
    assert client.post(replay, headers=auth).status_code == 202


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/webhook-endpoints/0/deliveries",
        "/api/v1/webhook-endpoints/ep_x%20y/deliveries",
        f"/api/v1/webhook-endpoints/nope/deliveries/{DELIVERY}/replay",
        f"/api/v1/webhook-endpoints/{ENDPOINT}/deliveries/msg_1/replay",
    ],
)
def test_ids_that_cannot_exist_are_404_without_asking_the_service(
    client: TestClient, auth: dict[str, str], sender: RecordingSender, path: str
) -> None:
    method = client.post if path.endswith("/replay") else client.get
    answer = method(path, headers=auth)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"
    assert sender.sent == []


class SilentSender(RecordingSender):
    def call(self, command: Any, correlation_id: str, timeout: float = 10.0) -> Any:
        raise CommandTimeout(f"{command.task_name} did not answer within {timeout:.0f}s")


class BrokerDownSender(RecordingSender):
    def call(self, command: Any, correlation_id: str, timeout: float = 10.0) -> Any:
        raise BrokerUnavailable("broker down")


@pytest.mark.parametrize(
    ("failing", "status", "code"),
    [
        (SilentSender(), 504, "gateway_timeout"),
        (BrokerDownSender(), 503, "service_unavailable"),
        (
            RecordingSender(answers={"integrations.list_webhook_deliveries": None}),
            502,
            "bad_gateway",
        ),
    ],
)
def test_a_service_that_does_not_answer_is_a_json_5xx_not_a_crash(
    settings: GatewaySettings, auth: dict[str, str], failing: Any, status: int, code: str
) -> None:
    with TestClient(create_app(settings, failing)) as test_client:
        answer = test_client.get(f"/api/v1/webhook-endpoints/{ENDPOINT}/deliveries", headers=auth)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


def test_an_sms_is_accepted_with_its_id(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    answer = client.post("/api/v1/sms", json={"to": "+14155552671", "body": "Hi"}, headers=auth)
    assert answer.status_code == 202, answer.text
    [sent] = sender.sent
    assert isinstance(sent.command, SendSms) and sent.command.to == "+14155552671"
    assert answer.json()["sms_id"] == sent.command.sms_id == sent.correlation_id


@pytest.mark.parametrize(
    "to", ["4155552671", "+1 415 555 2671", "+15555550100", "+1415", "call me"]
)
def test_a_number_not_in_valid_e164_is_422_naming_to(
    client: TestClient, auth: dict[str, str], sender: RecordingSender, to: str
) -> None:
    answer = client.post("/api/v1/sms", json={"to": to, "body": "Hi"}, headers=auth)
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["to"]
    assert sender.sent == []


def callback(status: str = "delivered", sid: str = "SM0123") -> dict[str, str]:
    return {"MessageSid": sid, "MessageStatus": status, "To": "+14155552671", "AccountSid": "AC0"}


def post_status(client: TestClient, params: dict[str, str], signature: str) -> Any:
    return client.post(
        "/webhooks/twilio/status",
        content=urlencode(params),
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
    )


def rows(client: TestClient, model: Any) -> list[Any]:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        return list(session.scalars(select(model)))


def test_a_signed_status_callback_is_recorded_and_handed_on_once(client: TestClient) -> None:
    params = callback()
    signature = twilio_signature(TOKEN, STATUS_URL, params)
    assert post_status(client, params, signature).json() == {"received": True, "duplicate": False}
    assert post_status(client, params, signature).json() == {"received": True, "duplicate": True}
    published = [row for row in rows(client, OutboxMessage)]
    assert [row.event_type for row in published] == ["twilio-status-received"]
    assert published[0].envelope["data"]["message_sid"] == "SM0123"
    [row] = rows(client, InboundWebhook)  # one row per provider event: a repeat only counts
    assert (row.valid, row.processed, row.deliveries) == (True, True, 2)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "bm90IGEgc2lnbmF0dXJl",
        twilio_signature("another-token", STATUS_URL, callback()),
        twilio_signature(TOKEN, "http://evil.example/webhooks/twilio/status", callback()),
        twilio_signature(TOKEN, STATUS_URL, callback(status="failed")),
    ],
    ids=["missing", "not-a-signature", "another-token", "another-url", "another-body"],
)
def test_a_bad_twilio_signature_is_403_and_only_its_metadata_is_recorded(
    client: TestClient, signature: str
) -> None:
    answer = post_status(client, callback(), signature)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    assert rows(client, OutboxMessage) == []
    assert rows(client, InboundWebhook) == []
    [refused] = rows(client, RefusedWebhook)
    assert (refused.provider, refused.reason) == ("twilio", "X-Twilio-Signature does not match")
