"""`POST /webhooks/stripe`: verified with the real stripe SDK, recorded, handed on once."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from switchboard_gateway.models import InboundWebhook, RefusedWebhook
from switchboard_shared.records import OutboxMessage

SECRET = "whsec_test_secret"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"stripe_webhook_secret": SECRET})


def signed(payload: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = at or int(time.time())
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={digest}", "Content-Type": "application/json"}


def stripe_event(event_id: str = "evt_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": 1_790_000_000,
            "data": {
                "object": {
                    "id": "pi_1",
                    "object": "payment_intent",
                    "amount": 3750,
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {"order_id": "ord_1"},
                }
            },
        }
    ).encode()


def ledger(client: TestClient) -> list[InboundWebhook]:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        return list(session.scalars(select(InboundWebhook).order_by(InboundWebhook.received_at)))


def refused(client: TestClient) -> list[RefusedWebhook]:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        return list(session.scalars(select(RefusedWebhook)))


def outbox(client: TestClient) -> list[OutboxMessage]:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        return list(session.scalars(select(OutboxMessage)))


def test_signed_event_is_recorded_and_handed_on_as_an_event(client: TestClient) -> None:
    payload = stripe_event()
    response = client.post("/webhooks/stripe", content=payload, headers=signed(payload))

    assert response.status_code == 200 and response.json() == {"received": True, "duplicate": False}
    [row] = ledger(client)
    assert (row.provider, row.event_id, row.valid, row.processed) == ("stripe", "evt_1", True, True)
    [message] = outbox(client)
    assert message.event_type == "stripe-event-received"
    assert message.envelope["data"]["object"]["id"] == "pi_1"
    assert message.envelope["correlationid"] == "ord_1"


def test_repeated_event_id_is_counted_but_has_no_second_effect(client: TestClient) -> None:
    payload = stripe_event()
    client.post("/webhooks/stripe", content=payload, headers=signed(payload))
    again = client.post("/webhooks/stripe", content=payload, headers=signed(payload))

    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert [(r.processed, r.deliveries) for r in ledger(client)] == [(True, 2)]
    assert len(outbox(client)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda p: signed(p, secret="whsec_wrong"), id="wrong-secret"),
        pytest.param(lambda p: signed(p, at=int(time.time()) - 301), id="stale-timestamp"),
        pytest.param(lambda p: signed(p, at=int(time.time()) + 3600), id="an-hour-in-the-future"),
        pytest.param(
            lambda p: signed(p.replace(b'"amount": 3750', b'"amount":3750')),
            id="body-re-serialised-after-signing",
        ),
        pytest.param(lambda p: {"Stripe-Signature": "garbage"}, id="malformed-header"),
        pytest.param(lambda p: {}, id="missing-header"),
    ],
)
def test_bad_or_stale_signature_is_400_and_only_its_metadata_kept(
    client: TestClient, headers
) -> None:  # type: ignore[no-untyped-def]
    payload = stripe_event()
    response = client.post("/webhooks/stripe", content=payload, headers=headers(payload))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert ledger(client) == []
    [row] = refused(client)
    assert (row.provider, row.size, row.source_address) == ("stripe", len(payload), "testclient")
    assert row.reason
    assert outbox(client) == []


def test_malformed_json_with_a_valid_signature_is_400(client: TestClient) -> None:
    payload = b"{not json"
    response = client.post("/webhooks/stripe", content=payload, headers=signed(payload))
    assert response.status_code == 400


def test_gateway_database_down_answers_5xx_so_stripe_retries(
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    from switchboard_gateway.main import create_app

    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/gone")
    client = TestClient(create_app(settings), raise_server_exceptions=False)
    payload = stripe_event()
    response = client.post("/webhooks/stripe", content=payload, headers=signed(payload))

    assert 500 <= response.status_code < 600, "never 200-then-lose"
