"""Item 9: read-only keys saw secrets and personal data.

A dead-lettered endpoint registration showed its signing secret; the event log and order
timelines showed customers' emails; stored provider calls showed phone numbers. Now a field
a contract marks secret is never returned, and personal data is masked for read-only keys.
Real workers (orders, the gateway's event log, integrations) on Redis and PostgreSQL.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from security_gateway import (
    AUTH,
    ORDER,
    LiveGateway,
    gateway_client,
    gateway_settings,
    live_gateway,
)
from switchboard_gateway.models import InboundWebhook
from switchboard_shared.contracts.integrations import RegisterWebhookEndpoint

READER = "reader-key-disclosure"
SIGNING_SECRET = "whsec_" + "s3cr3t" * 6
EMAIL = "grace.hopper@example.com"
PHONE = "+14155552671"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def eventually(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not seen in {timeout:g} s")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveGateway, TestClient]]:
    data = tmp_path_factory.mktemp("disclosure")
    with live_gateway(data, "orders", "gateway", "integrations") as live:
        broker = live.env["SWITCHBOARD_BROKER_URL"]
        settings = gateway_settings(
            data, broker, broker, readonly_api_keys=READER, rate_limit_reads="off"
        )
        with gateway_client(settings, live.env["GATEWAY_DATABASE_URL"]) as reader_side:
            yield live, reader_side


def test_a_dead_lettered_registration_never_shows_its_signing_secret(
    platform: tuple[LiveGateway, TestClient],
) -> None:
    _, client = platform
    # Built past validation, as a broken or hostile producer would send it: the worker refuses
    # the endpoint id and dead-letters the whole message, secret included.
    registration = RegisterWebhookEndpoint.model_construct(
        endpoint_id="not a valid endpoint id",
        url="https://hooks.example.com/switchboard",
        events=["order-created"],
        secret=SIGNING_SECRET,
    )
    client.app.state.sender.send(registration, uuid.uuid4().hex)  # type: ignore[attr-defined]

    def letter() -> dict[str, Any] | None:
        listed = client.get("/api/v1/dead-letters", headers=auth(READER)).json()["items"]
        mine = [x for x in listed if x["task_name"] == RegisterWebhookEndpoint.task_name]
        return mine[0] if mine else None

    found = eventually(letter)
    for headers in (auth(READER), AUTH):  # neither key class sees it
        detail = client.get(f"/api/v1/dead-letters/{found['id']}", headers=headers)
        assert detail.status_code == 200, detail.text
        assert SIGNING_SECRET not in detail.text
        assert "[redacted]" in detail.text


def test_read_only_keys_see_customers_masked_in_events_and_timelines(
    platform: tuple[LiveGateway, TestClient],
) -> None:
    _, client = platform
    order = {**ORDER, "customer": {"email": EMAIL, "phone": PHONE}}
    accepted = client.post("/api/v1/orders", json=order, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["order_id"]

    def timeline(key: str) -> list[dict[str, Any]]:
        return (
            client.get(f"/api/v1/orders/{order_id}", headers=auth(key)).json().get("timeline", [])
        )

    eventually(lambda: timeline(READER))
    read_only = client.get(f"/api/v1/orders/{order_id}", headers=auth(READER)).text
    events = client.get(
        "/api/v1/events", params={"type": "order-created"}, headers=auth(READER)
    ).text
    for text in (read_only, events):
        assert EMAIL not in text and "g***@example.com" in text
    admin = client.get(f"/api/v1/orders/{order_id}", headers=AUTH)
    assert EMAIL in admin.text  # an admin key still sees whom to contact


def test_read_only_keys_see_phone_numbers_masked_in_provider_calls(
    platform: tuple[LiveGateway, TestClient],
) -> None:
    _, client = platform
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    call_id = str(uuid.uuid4())
    body = urlencode({"MessageSid": "SM" + "0" * 32, "MessageStatus": "delivered", "To": PHONE})
    with store.runtime.session_factory() as session, session.begin():
        session.add(
            InboundWebhook(
                id=call_id,
                provider="twilio",
                event_id="SM" + "0" * 32,
                headers={},
                body=body,
                source_address="127.0.0.1",
                valid=True,
            )
        )
    masked = client.get(f"/api/v1/webhooks/inbound/{call_id}", headers=auth(READER))
    assert masked.status_code == 200, masked.text
    assert PHONE not in masked.text and "delivered" in masked.json()["body"]
    whole = client.get(f"/api/v1/webhooks/inbound/{call_id}", headers={"Authorization": "x"})
    assert whole.status_code == 401


def test_the_contracts_mark_what_is_secret_and_personal() -> None:
    from switchboard_shared.contracts.sensitivity import Sensitivity, names

    assert "secret" in names(Sensitivity.SECRET)
    assert {"email", "phone", "to", "customer_email"} <= names(Sensitivity.PERSONAL)
    assert RegisterWebhookEndpoint.redacted == frozenset({"secret"})
    schema = RegisterWebhookEndpoint.model_json_schema()
    assert schema["properties"]["secret"]["x-sensitivity"] == "secret"
