"""The ops plane's HTTP surface, in process: auth classes, tasks, analytics, catalog,
Prometheus, dead letters and the inbound webhook ledger (fakes for the broker side)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from gateway_fakes import WEBHOOK_SECRETS, RecordingSender, valid_order
from ops_fakes import ADMIN, READER, FakeControl, task_events
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_gateway.models import InboundWebhook
from switchboard_shared.contracts import EVENTS
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import redis_database

SERVICES = {"orders": ["orders.critical", "orders.normal", "orders.events"]}


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[tuple[TestClient, RecordingSender, FakeControl]]:
    with redis_database() as redis_url:
        settings = GatewaySettings(
            api_keys="legacy-key",
            admin_api_keys=ADMIN,
            readonly_api_keys=READER,
            broker_url="memory://",
            redis_url=redis_url,
            data_dir=tmp_path,
            services=SERVICES,
            **WEBHOOK_SECRETS,
        )
        sender, control = RecordingSender(), FakeControl(depths={"orders.normal": 7})
        with TestClient(create_app(settings, sender, control=control)) as client:
            yield client, sender, control


def h(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def seed(client: TestClient, *batches: list[dict[str, Any]]) -> None:
    ledger = client.app.state.ledger.get()  # type: ignore[attr-defined]
    for events in batches:
        ledger.writer.apply(events)


def test_key_classes_read_only_reads_admin_acts_none_is_401(ops) -> None:  # type: ignore[no-untyped-def]
    client, sender, control = ops
    events = task_events("orders.diagnose", runtime=30)[:2]
    seed(client, events)
    task_id = events[0]["uuid"]
    assert client.get(f"/api/v1/tasks/{task_id}", headers=h(READER)).status_code == 200
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 401
    assert client.get(f"/api/v1/tasks/{task_id}", headers=h("nope")).status_code == 401
    for path in (
        f"/api/v1/tasks/{task_id}/cancel",
        "/api/v1/queues/orders.normal/purge",
        "/api/v1/dead-letters/orders:x/replay",
    ):
        refused = client.post(path, headers=h(READER))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert client.delete("/api/v1/dead-letters/orders:x", headers=h(READER)).status_code == 403
    assert client.post("/api/v1/orders", json=valid_order(), headers=h(READER)).status_code == 403
    assert control.revoked == [] and sender.sent == []
    accepted = client.post(
        f"/api/v1/tasks/{task_id}/cancel?terminate=true", headers=h("legacy-key")
    )
    assert accepted.status_code == 202 and control.revoked == [(task_id, True)]
    purged = client.post("/api/v1/queues/orders.normal/purge", headers=h(ADMIN))
    assert purged.json() == {"queue": "orders.normal", "purged": 7}
    assert client.post("/api/v1/queues/not-a-queue/purge", headers=h(ADMIN)).status_code == 404


def test_submission_is_recorded_and_validated(ops) -> None:  # type: ignore[no-untyped-def]
    client, sender, _ = ops
    accepted = client.post(
        "/api/v1/tasks", json={"name": "orders.diagnose", "args": {"seconds": 1}}, headers=h(ADMIN)
    )
    assert accepted.status_code == 202
    task = client.get(accepted.json()["status_url"], headers=h(ADMIN)).json()
    assert (task["state"], task["name"], task["queue"], task["service"]) == (
        "pending",
        "orders.diagnose",
        "orders.normal",
        "orders",
    )
    unknown = client.post(
        "/api/v1/tasks", json={"name": "nope.never", "args": {}}, headers=h(ADMIN)
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "name"
    bad = client.post(
        "/api/v1/tasks", json={"name": "orders.diagnose", "args": {"steps": 0}}, headers=h(ADMIN)
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "args.steps"
    assert client.get("/api/v1/tasks/unknown-id", headers=h(ADMIN)).status_code == 404
    assert [s.command.task_name for s in sender.sent] == ["orders.diagnose"]


def test_lists_counts_metrics_failures_and_trends(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    seed(client, *(task_events("orders.create", runtime=r) for r in (0.1, 0.2, 0.3)))
    seed(
        client,
        task_events("orders.create", fail="provider-5xx"),
        task_events("payments.charge", fail="validation"),
    )
    listed = client.get(
        "/api/v1/tasks", params={"service": "orders", "limit": 2}, headers=h(READER)
    ).json()
    assert (listed["total"], len(listed["items"]), listed["limit"]) == (4, 2, 2)
    count = client.get(
        "/api/v1/tasks/count", params={"name": "orders.create"}, headers=h(READER)
    ).json()
    assert count == {"count": 4, "by_state": {"succeeded": 3, "dead_lettered": 1}}
    metrics = {
        m["name"]: m
        for m in client.get("/api/v1/metrics?hours=1", headers=h(READER)).json()["items"]
    }
    assert metrics["orders.create"]["success_rate"] == 0.75
    assert metrics["orders.create"]["runtime"]["p50"] == 0.2
    failures = client.get("/api/v1/failures?hours=1", headers=h(READER)).json()
    assert failures["by_classification"] == {"provider-5xx": 1, "validation": 1}
    trends = client.get(
        "/api/v1/trends", params={"hours": 2, "bucket": "30m"}, headers=h(READER)
    ).json()
    assert len(trends["items"]) == 4 and sum(b["total"] for b in trends["items"]) == 5
    bad = client.get("/api/v1/trends", params={"bucket": "1s"}, headers=h(READER))
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "bucket"
    assert client.get("/api/v1/tasks?state=bogus", headers=h(READER)).status_code == 422


def test_prometheus_text(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    seed(client, task_events("orders.create"))
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=h(READER)).text
    assert (
        'switchboard_tasks_total{name="orders.create",service="orders",state="succeeded"} 1.0'
        in text
    )
    assert 'switchboard_queue_depth{queue="orders.normal",service="orders"} 7.0' in text
    assert "switchboard_task_runtime_seconds" in text and "switchboard_workers_online" in text


def test_readiness_names_what_is_missing(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, control = ops
    control.broker_up = False
    answer = client.get("/api/v1/health/ready", headers=h(READER))
    assert answer.status_code == 503
    assert answer.json()["missing"] == ["broker", "worker of orders"]


def test_catalog_and_asyncapi_come_from_the_contracts(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    url = client.app.state.settings.effective_redis_url  # type: ignore[attr-defined]
    redis.Redis.from_url(url).set(
        "switchboard:subscriptions:orders", json.dumps(["payment-succeeded"])
    )
    items = {
        e["type"]: e
        for e in client.get("/api/v1/events/catalog", headers=h(READER)).json()["items"]
    }
    assert set(items) == set(EVENTS)
    assert items["payment-succeeded"]["subscribers"] == ["orders"]
    assert items["payment-succeeded"]["producer"] == "payments"
    assert "amount" in items["payment-succeeded"]["schema"]["properties"]
    document = client.get("/api/v1/events/asyncapi.json", headers=h(READER)).json()
    assert document["asyncapi"] == "3.0.0" and set(document["channels"]) == set(EVENTS)
    assert "orders.consume.payment-succeeded" in document["operations"]
    for ref in _refs(document):
        assert _resolve(document, ref) is not None, ref


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def test_dead_letters_are_gathered_from_each_service(ops) -> None:  # type: ignore[no-untyped-def]
    client, sender, _ = ops
    letter = {
        "id": "L1",
        "service": "orders",
        "task_name": "orders.create",
        "task_id": "t1",
        "queue": "orders.critical",
        "reason": "validation failure",
        "classification": "validation",
        "exception_type": "ValidationError",
        "deliveries": 1,
        "created_at": "2026-11-26T10:00:00+00:00",
        "replayed_at": None,
    }
    sender.answers["orders.dead_letters.list"] = {"items": [letter], "total": 1}
    listed = client.get("/api/v1/dead-letters", headers=h(READER)).json()
    assert [x["id"] for x in listed["items"]] == ["orders:L1"] and listed["total"] == 1
    sender.answers["orders.dead_letters.replay"] = {
        "task_id": "t2",
        "task_name": "orders.create",
        "queue": "orders.critical",
    }
    replayed = client.post("/api/v1/dead-letters/orders:L1/replay", headers=h(ADMIN))
    assert replayed.status_code == 202 and replayed.json()["task_id"] == "t2"
    assert client.get("/api/v1/tasks/t2", headers=h(ADMIN)).json()["state"] == "pending"
    assert client.get("/api/v1/dead-letters/nowhere:L1", headers=h(ADMIN)).status_code == 404
    sender.answers["orders.dead_letters.delete"] = {"deleted": False}
    assert client.delete("/api/v1/dead-letters/orders:L9", headers=h(ADMIN)).status_code == 404


def test_inbound_webhooks_are_listed_and_handed_on_again(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    body = json.dumps(
        {
            "id": "evt_9",
            "type": "payment_intent.succeeded",
            "created": 1,
            "data": {"object": {"id": "pi_9", "metadata": {"order_id": "ord_9"}}},
        }
    )
    with store.runtime.session_factory() as session, session.begin():
        session.add(
            InboundWebhook(
                id="w1",
                provider="stripe",
                event_id="evt_9",
                headers={},
                body=body,
                valid=True,
                processed=False,
                error="boom",
            )
        )
        session.add(InboundWebhook(id="w2", provider="stripe", headers={}, body="x", valid=False))
    listed = client.get(
        "/api/v1/webhooks/inbound", params={"provider": "stripe"}, headers=h(READER)
    ).json()
    assert listed["total"] == 2
    assert client.get("/api/v1/webhooks/inbound/w1", headers=h(READER)).json()["body"] == body
    handed = client.post("/api/v1/webhooks/inbound/w1/reprocess", headers=h(ADMIN))
    assert (
        handed.status_code == 202
        and handed.json()["processed"] is True
        and handed.json()["error"] is None
    )
    with store.runtime.session_factory() as session:
        assert [m.event_type for m in session.query(OutboxMessage)] == ["stripe-event-received"]
    assert client.post("/api/v1/webhooks/inbound/w2/reprocess", headers=h(ADMIN)).status_code == 409
    assert client.post("/api/v1/webhooks/inbound/w3/reprocess", headers=h(ADMIN)).status_code == 404
