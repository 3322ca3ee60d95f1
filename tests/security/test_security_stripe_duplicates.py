"""Issue 17, item 12: one Stripe event delivered several times at once.

The attack (or just Stripe retrying while a slow first delivery is still in flight): the
gateway's duplicate check was a SELECT and then an INSERT, so concurrent deliveries of one
signed event all found nothing, and each was ledgered as new and handed on as its own event.

After: `(provider, event_id)` is unique and the ledger row is an insert-or-skip; exactly one
delivery is new and publishes, the others only count. Real PostgreSQL, real signatures.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import stripe
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_gateway.models import InboundWebhook
from switchboard_shared.db import create_db_engine
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import pg_database, provider_secrets, redis_database

pytestmark = pytest.mark.integration

SECRETS = provider_secrets()
DELIVERIES = 8
EVENTS = 6


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    with pg_database() as database, redis_database() as redis_url:
        monkeypatch.setenv("GATEWAY_DATABASE_URL", database)
        settings = GatewaySettings(
            api_keys="ops-key",
            broker_url=redis_url,
            redis_url=redis_url,
            data_dir=tmp_path,
            stripe_webhook_secret=SECRETS["STRIPE_WEBHOOK_SECRET"],
            twilio_auth_token=SECRETS["TWILIO_AUTH_TOKEN"],
        )
        with TestClient(create_app(settings)) as test_client:
            test_client.app.state.store.get()  # type: ignore[attr-defined]  # migrated first
            yield test_client


def signed_event(event_id: str) -> tuple[str, dict[str, str]]:
    body = json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": f"pi_{event_id}",
                    "amount": 3750,
                    "currency": "usd",
                    "metadata": {"order_id": f"ord_{event_id}"},
                }
            },
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(
        body, SECRETS["STRIPE_WEBHOOK_SECRET"]
    )
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


def deliver_at_once(client: TestClient, event_id: str) -> list[Any]:
    """DELIVERIES threads post the same signed event, released together."""
    body, headers = signed_event(event_id)
    start = threading.Barrier(DELIVERIES)

    def one(_: int) -> Any:
        start.wait()
        return client.post("/webhooks/stripe", content=body, headers=headers)

    with ThreadPoolExecutor(DELIVERIES) as pool:
        return list(pool.map(one, range(DELIVERIES)))


def rows_per_event(client: TestClient, model: Any, column: Any) -> dict[str, int]:
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        query = select(column, func.count()).select_from(model).group_by(column)
        return {str(key): int(n) for key, n in session.execute(query)}


def test_concurrent_deliveries_of_one_event_have_one_effect(client: TestClient) -> None:
    events = [f"evt_race_{i}" for i in range(EVENTS)]
    answers = {event: deliver_at_once(client, event) for event in events}

    for event, replies in answers.items():
        assert [r.status_code for r in replies] == [200] * DELIVERIES
        assert sorted(r.json()["duplicate"] for r in replies) == [False] + [True] * (
            DELIVERIES - 1
        ), f"{event}: exactly one delivery is new"
    ledgered = rows_per_event(client, InboundWebhook, InboundWebhook.event_id)
    assert ledgered == dict.fromkeys(events, 1), "one ledger row per provider event"
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        envelopes = [m.envelope for m in session.scalars(select(OutboxMessage))]
        counted = set(session.scalars(select(InboundWebhook.deliveries)))
    published = Counter(e["data"]["stripe_event_id"] for e in envelopes)
    assert published == dict.fromkeys(events, 1), "one published event per provider event"
    assert counted == {DELIVERIES}, "every delivery is counted on its event's row"


def test_the_database_itself_refuses_a_second_row_for_one_provider_event(
    client: TestClient,
) -> None:
    engine = create_db_engine(os.environ["GATEWAY_DATABASE_URL"])
    try:
        unique = inspect(engine).get_unique_constraints("inbound_webhooks")
    finally:
        engine.dispose()
    assert ["provider", "event_id"] in [u["column_names"] for u in unique]
