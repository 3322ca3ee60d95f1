"""Issue 17, item 14: the 5xx schemathesis found against `make run` on PostgreSQL.

An `Idempotency-Key` near 255 characters overflowed its scoped column (500); a supplier name
holding NUL timed out (504) while the orders worker retried PostgreSQL's refusal five times.
On PostgreSQL, with a real orders worker: the key and every NUL-bearing string (body, query,
path, provider webhooks) are 422s naming the field, and a message that reaches a worker with
a NUL anyway fails once, as a validation failure, never retried.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from security_gateway import AUTH, ORDER, PROVIDER_SECRETS, LiveGateway, live_gateway
from sqlalchemy import text
from switchboard_shared.commands import send_command
from switchboard_shared.contracts.orders import CreateSupplier
from switchboard_shared.db import create_db_engine

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
NUL = "\u0000"
SUPPLIER = {"name": "Acme", "categories": ["cnc-machining"], "region": "eu-west", "capacity": 10}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("nul"), "orders") as live:
        yield live


def refused(response: Any) -> list[tuple[str, str]]:
    """(where, field) of each detail of a 422."""
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    return [(detail.get("in", "body"), detail["field"]) for detail in details]


def signed_stripe(payload: str) -> dict[str, str]:
    stamp = int(time.time())
    secret = PROVIDER_SECRETS["STRIPE_WEBHOOK_SECRET"].encode()
    mac = hmac.new(secret, f"{stamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={stamp},v1={mac}", "Content-Type": "application/json"}


def test_an_idempotency_key_too_long_for_its_column_is_a_422_naming_the_header(
    platform: LiveGateway,
) -> None:
    def place(key: str) -> Any:
        headers = {**AUTH, "Idempotency-Key": key}
        return platform.client.post("/api/v1/orders", json=ORDER, headers=headers)

    assert refused(place("k" * 250)) == [("header", "idempotency-key")]
    assert refused(place("key with spaces")) == [("header", "idempotency-key")]
    assert place("k" * 200).status_code == 202, "the longest key allowed fits its column"


def test_nul_in_any_string_at_the_edge_is_a_422_naming_the_field(platform: LiveGateway) -> None:
    client = platform.client
    order = copy.deepcopy(ORDER)
    order["items"][0]["sku"] = f"bolt{NUL}"
    stripe_body = json.dumps(
        {"id": "evt_nul", "type": "payment_intent.succeeded", "data": {"object": {"id": NUL}}}
    )

    supplier = client.post("/api/v1/suppliers", json={**SUPPLIER, "name": NUL}, headers=AUTH)
    assert refused(supplier) == [("body", "name")], "never a 504 after the worker's retries"
    placed = client.post("/api/v1/orders", json=order, headers=AUTH)
    assert refused(placed) == [("body", "items[0].sku")]
    listed = client.get("/api/v1/events", params={"correlation_id": NUL}, headers=AUTH)
    assert refused(listed) == [("query", "correlation_id")]
    shown = client.get("/api/v1/orders/ord%00x", headers=AUTH)
    assert refused(shown) == [("path", "order_id")]
    webhook = client.post(
        "/webhooks/stripe", content=stripe_body, headers=signed_stripe(stripe_body)
    )
    assert refused(webhook) == [("body", "data.object.id")]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status = client.post(
        "/webhooks/twilio/status", content=b"MessageSid=SM1&MessageStatus=%00", headers=form
    )
    assert refused(status) == [("body", "MessageStatus")]


def dead_letter_classes(platform: LiveGateway, task_id: str) -> list[str]:
    engine = create_db_engine(platform.database_url("orders"))
    query = text("select classification from dead_letters where task_id = :id")
    try:
        with engine.connect() as connection:
            return list(connection.execute(query, {"id": task_id}).scalars())
    finally:
        engine.dispose()


def test_a_value_postgresql_refuses_fails_once_as_invalid(platform: LiveGateway) -> None:
    """A command that reaches the worker with a NUL anyway (from any producer) is not retried."""
    broker = platform.env["SWITCHBOARD_BROKER_URL"]
    client = Celery("nul-client", broker=broker, backend=broker, set_as_current=False)
    command = CreateSupplier(supplier_id="sup_nul", **{**SUPPLIER, "name": f"Acme{NUL}"})

    started = time.monotonic()
    task_id = send_command(client, command)
    with pytest.raises(Exception, match="validation failure: DataError"):
        client.AsyncResult(task_id).get(timeout=60)

    assert dead_letter_classes(platform, task_id) == ["validation"]
    assert "retry" not in platform.workers["orders"].output().lower()
    assert time.monotonic() - started < 10
