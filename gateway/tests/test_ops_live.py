"""The ops plane against a real orders worker and the ledger consumer, on Redis and RabbitMQ."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ops_platform import ADMIN, READER, LivePlatform, auth, live_platform
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
