"""The ops plane against a real orders worker and the ledger consumer, on Redis and RabbitMQ."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from ops_platform import ADMIN, READER, LivePlatform, auth, live_platform, start_ledger, stop
from sqlalchemy import select
from switchboard_gateway.alerts import evaluate
from switchboard_gateway.monitor import PlatformView
from switchboard_shared.records import OutboxMessage
from switchboard_shared.redis_checks import redis_client
from switchboard_shared.testsupport import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePlatform]:
    with live_platform(request.param, tmp_path_factory.mktemp(request.param)) as platform:
        yield platform


def test_long_task_progress_rises_to_success(live: LivePlatform) -> None:
    task_id = live.submit("orders.diagnose", seconds=3, steps=6, echo={"hello": "ops"})
    seen: list[float] = []

    def finished() -> bool:
        task = live.task(task_id)
        if task["state"] == "running":
            seen.append(task["progress"])
        return task["state"] == "succeeded"

    wait_until(finished, 40, 0.1)
    task = live.task(task_id)
    assert task["name"] == "orders.diagnose" and task["service"] == "orders"
    assert task["queue"] == "orders.normal"
    assert task["result"] == {"service": "orders", "steps": 6, "echo": {"hello": "ops"}}
    assert task["progress"] == 100 and task["runtime"] > 2
    assert "orders-" in task["worker"]
    rising = sorted(set(seen))
    assert len(rising) >= 2 and seen == sorted(seen), seen


def test_cancel_terminates_a_running_task(live: LivePlatform) -> None:
    task_id = live.submit("orders.diagnose", seconds=60, steps=60)
    live.wait_state(task_id, "running")
    refused = live.client.post(f"/api/v1/tasks/{task_id}/cancel", headers=auth(READER))
    assert refused.status_code == 403
    assert live.client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 401
    accepted = live.client.post(
        f"/api/v1/tasks/{task_id}/cancel", params={"terminate": "true"}, headers=auth(ADMIN)
    )
    assert accepted.status_code == 202, accepted.text
    assert live.wait_state(task_id, "revoked")["completed_at"] is not None


def test_failed_task_is_classified_in_failures(live: LivePlatform) -> None:
    task_id = live.submit("orders.diagnose", fail="provider-4xx")
    task = live.wait_state(task_id, "dead_lettered")
    assert task["error"]["classification"] == "provider-4xx"
    assert task["error"]["type"] == "ClassifiedError"
    assert task["dead_letter_id"]
    failures = live.get("/api/v1/failures", hours=1)
    [group] = [g for g in failures["items"] if g["classification"] == "provider-4xx"]
    assert group["name"] == "orders.diagnose" and task_id in group["task_ids"]
    assert failures["by_classification"]["provider-4xx"] >= 1


def test_dead_letter_replays_to_success_once_its_cause_is_gone(live: LivePlatform) -> None:
    blocker = f"ops-test:block:{uuid.uuid4().hex}"
    redis_client(live.settings.effective_redis_url).set(blocker, "1")
    task_id = live.submit("orders.diagnose", fail_while_key=blocker, echo={"n": 1})
    assert live.wait_state(task_id, "dead_lettered")["error"]["classification"] == "validation"
    listed = live.get("/api/v1/dead-letters")
    [letter] = [x for x in listed["items"] if x["task_id"] == task_id]
    assert letter["id"].startswith("orders:") and listed["unavailable"] == []
    detail = live.get(f"/api/v1/dead-letters/{letter['id']}")
    assert detail["message"]["args"][0]["fail_while_key"] == blocker
    assert (
        live.client.post(
            f"/api/v1/dead-letters/{letter['id']}/replay", headers=auth(READER)
        ).status_code
        == 403
    )

    redis_client(live.settings.effective_redis_url).delete(blocker)
    replay = live.client.post(f"/api/v1/dead-letters/{letter['id']}/replay", headers=auth(ADMIN))
    assert replay.status_code == 202, replay.text
    replayed = live.wait_state(replay.json()["task_id"], "succeeded")
    assert replayed["result"]["echo"] == {"n": 1} and replayed["task_id"] != task_id

    assert (
        live.client.delete(f"/api/v1/dead-letters/{letter['id']}", headers=auth(ADMIN)).status_code
        == 204
    )
    assert (
        live.client.get(f"/api/v1/dead-letters/{letter['id']}", headers=auth(ADMIN)).status_code
        == 404
    )


def test_backlog_raises_an_alert_that_resolves_when_drained(live: LivePlatform) -> None:
    settings = live.settings.model_copy(update={"alert_queue_backlog": 5})
    runtime = live.client.app.state.store.get().runtime  # type: ignore[attr-defined]
    view = PlatformView(settings, live.client.app.state.control, live.client.app.state.ledger.get())  # type: ignore[attr-defined]
    for _ in range(2):
        live.submit("orders.diagnose", seconds=4)
    quick = [live.submit("orders.diagnose", seconds=0.1) for _ in range(10)]
    assert evaluate(view, settings, runtime)["raised"] >= 1
    active = live.get("/api/v1/alerts")["items"]
    assert [a["subject"] for a in active if a["rule"] == "queue_backlog"] == ["orders.normal"]

    for task_id in quick:
        live.wait_state(task_id, "succeeded")
    wait_until(
        lambda: evaluate(view, settings, runtime)["resolved"] >= 1 or not _backlogged(live), 30
    )
    assert not _backlogged(live)
    resolved = live.get("/api/v1/alerts", state="resolved")["items"]
    assert any(a["subject"] == "orders.normal" for a in resolved)
    with runtime.session_factory() as session:
        types = {r.event_type for r in session.scalars(select(OutboxMessage))}
    assert {"alert-raised", "alert-resolved"} <= types


def _backlogged(live: LivePlatform) -> bool:
    return any(a["rule"] == "queue_backlog" for a in live.get("/api/v1/alerts")["items"])


def test_monitoring_sees_the_worker_its_queues_and_readiness(live: LivePlatform) -> None:
    live.client.app.state.control.app.send_task("orders.liveness_probe", queue="orders.normal")  # type: ignore[attr-defined]
    wait_until(
        lambda: live.client.get("/api/v1/health/ready", headers=auth(READER)).status_code == 200, 30
    )
    [orders] = live.get("/api/v1/services")["items"]
    assert orders["status"] == "up" and orders["workers_online"] >= 1
    assert {q["name"] for q in orders["queues"]} == {
        "orders.critical",
        "orders.normal",
        "orders.events",
    }
    assert all(q["depth"] is not None for q in orders["queues"])
    workers = live.get("/api/v1/workers")["items"]
    assert any(w["service"] == "orders" and w["online"] for w in workers)
    metrics = {m["name"]: m for m in live.get("/api/v1/metrics", hours=1)["items"]}
    assert metrics["orders.diagnose"]["by_state"]["succeeded"] >= 1
    assert metrics["orders.diagnose"]["runtime"]["p50"] is not None


def test_ledger_restart_loses_nothing_and_catches_up(live: LivePlatform) -> None:
    before = live.submit("orders.diagnose", echo={"when": "before"})
    live.wait_state(before, "succeeded")
    stop(live.ledger)
    during = live.submit("orders.diagnose", seconds=0.5, echo={"when": "during"})
    backend = live.client.app.state.control.app  # type: ignore[attr-defined]
    wait_until(lambda: backend.AsyncResult(during).state == "SUCCESS", 40)
    assert live.task(during)["state"] == "pending"
    live.ledger = start_ledger(live.env, live.ledger_log)
    assert live.wait_state(during, "succeeded", timeout=60)["result"]["echo"] == {"when": "during"}
    assert live.task(before)["state"] == "succeeded"
