"""Issue 17, item 3 (and the webhooks' share of "Also"): filling the disk without credentials.

The attack: `/webhooks/stripe` and `/webhooks/twilio/status` need no API key, and every call
whose signature failed was stored with its whole body, forever. An attacker posting large
bodies filled the gateway's database.

After: a refused call leaves metadata only (size, source address, reason, time) in a table
that keeps the newest N; an address that keeps sending them is answered 429 with
Retry-After; and a flooding address never spends the budget of the provider's own address.
The gateway runs in process against real PostgreSQL and Redis.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import text
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_shared.testsupport import pg_database, provider_secrets, redis_database

pytestmark = pytest.mark.integration

SECRETS = provider_secrets()
ATTACKER, STRIPE = ("203.0.113.66", 40000), ("198.51.100.10", 40000)
BODY_BYTES = 256 * 1024
PATHS = ["/webhooks/stripe", "/webhooks/twilio/status"]


@pytest.fixture
def database() -> Iterator[str]:
    with pg_database() as url:
        yield url


@contextmanager
def gateway(tmp_path: Path, database: str, **limits: Any) -> Iterator[Any]:
    """The gateway app on PostgreSQL and its own Redis database; yields the app."""
    before = os.environ.get("GATEWAY_DATABASE_URL")
    os.environ["GATEWAY_DATABASE_URL"] = database
    try:
        with redis_database() as redis_url:
            settings = GatewaySettings(
                api_keys="ops-key",
                broker_url=redis_url,
                redis_url=redis_url,
                data_dir=tmp_path,
                stripe_webhook_secret=SECRETS["STRIPE_WEBHOOK_SECRET"],
                twilio_auth_token=SECRETS["TWILIO_AUTH_TOKEN"],
                **limits,
            )
            app = create_app(settings)
            app.state.store.get()  # migrated before the first call
            yield app
    finally:
        if before is None:
            os.environ.pop("GATEWAY_DATABASE_URL", None)
        else:
            os.environ["GATEWAY_DATABASE_URL"] = before


def forged(client: TestClient, path: str, size: int = BODY_BYTES) -> Any:
    body = base64.b64encode(os.urandom(size))[:size]  # incompressible: TOAST cannot shrink it
    headers = {"Stripe-Signature": "t=1,v1=00", "X-Twilio-Signature": "AAAA"}
    return client.post(path, content=body, headers=headers)


def signed_stripe(client: TestClient, event_id: str) -> Any:
    body = json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": "pi_1", "metadata": {"order_id": "ord_1"}}},
        }
    )
    secret = SECRETS["STRIPE_WEBHOOK_SECRET"]
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    return client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header})


def stored_bytes(database: str) -> int:
    """What the gateway's webhook tables hold on disk, as PostgreSQL counts it."""
    from switchboard_shared.db import create_db_engine

    engine = create_db_engine(database)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT tablename FROM pg_tables WHERE tablename LIKE '%webhook%'")
            ).scalars()
            sizes = [
                conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one()
                for t in tables
            ]
        return int(sum(sizes))
    finally:
        engine.dispose()


def count(database: str, query: str) -> int:
    from switchboard_shared.db import create_db_engine

    engine = create_db_engine(database)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(query)).scalar_one())
    finally:
        engine.dispose()


def test_a_flood_of_forged_calls_is_limited_and_leaves_no_body(
    tmp_path: Path, database: str
) -> None:
    with gateway(tmp_path, database, webhook_invalid_rate_limit="10/h") as app:
        attacker = TestClient(app, client=ATTACKER)
        answers = [forged(attacker, PATHS[i % 2]) for i in range(40)]

    sent = 40 * BODY_BYTES
    assert stored_bytes(database) < sent / 20, "bodies are never kept"
    assert count(database, "SELECT count(*) FROM inbound_webhooks") == 0
    statuses = [a.status_code for a in answers]
    assert set(statuses[:10]) <= {400, 403}, "the first ones are refused for their signature"
    assert statuses[10:] == [429] * 30, "then the address is over its budget"
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[10:])
    refused = count(database, "SELECT count(*) FROM refused_webhooks WHERE size = 262144")
    assert refused == 10, "one metadata row per call let through, none for the 429s"


def test_refused_calls_keep_only_the_newest_n(tmp_path: Path, database: str) -> None:
    limits = {"webhook_invalid_rate_limit": "off", "webhook_invalid_keep": 15}
    with gateway(tmp_path, database, **limits) as app:
        attacker = TestClient(app, client=ATTACKER)
        assert {forged(attacker, PATHS[i % 2], 1000).status_code for i in range(60)} == {400, 403}

    assert count(database, "SELECT count(*) FROM refused_webhooks") == 15
    assert count(database, "SELECT min(id) FROM refused_webhooks") == 46, "the newest kept"


def test_a_flooding_address_never_limits_the_providers_address(
    tmp_path: Path, database: str
) -> None:
    with gateway(tmp_path, database, webhook_invalid_rate_limit="5/h") as app:
        attacker, provider = TestClient(app, client=ATTACKER), TestClient(app, client=STRIPE)
        flood = [forged(attacker, PATHS[0], 100).status_code for _ in range(10)]
        assert flood[-1] == 429, "the flooding address is over its budget"
        answers = [signed_stripe(provider, f"evt_{i}") for i in range(20)]
        also = signed_stripe(attacker, "evt_from_the_flooder")

    assert [a.status_code for a in answers] == [200] * 20
    assert also.status_code == 200, "signed calls have their own, generous budget"
    assert count(database, "SELECT count(*) FROM inbound_webhooks") == 21


def test_verified_calls_are_limited_per_address_too(tmp_path: Path, database: str) -> None:
    with gateway(tmp_path, database, webhook_rate_limit="5/h") as app:
        busy, other = TestClient(app, client=ATTACKER), TestClient(app, client=STRIPE)
        answers = [signed_stripe(busy, f"evt_{i}") for i in range(8)]
        elsewhere = signed_stripe(other, "evt_other")

    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert elsewhere.status_code == 200
