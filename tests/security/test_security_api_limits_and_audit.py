"""The issue's "Also": per-key API rate limits (429 with Retry-After) and an audit log of admin
actions, readable by admin keys only. Real Redis (limits) and PostgreSQL (audit log)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from security_gateway import API_KEY, gateway_client, gateway_settings
from switchboard_gateway.key_limits import key_id
from switchboard_shared.testsupport import pg_database, redis_database

READER = "reader-key-audit"
OTHER_ADMIN = "second-admin-key"


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[TestClient]:
    with redis_database() as redis_url, pg_database() as database_url:
        settings = gateway_settings(
            tmp_path,
            redis_url,
            redis_url,
            readonly_api_keys=READER,
            admin_api_keys=OTHER_ADMIN,
            services={"orders": ["orders.critical", "orders.normal", "orders.events"]},
            rate_limit_reads="5/s",
            rate_limit_reads_burst=5,
            rate_limit_writes="2/m",
            rate_limit_writes_burst=2,
        )
        with gateway_client(settings, database_url) as client:
            yield client


def test_a_key_flooding_reads_gets_429_and_other_keys_do_not(gateway: TestClient) -> None:
    answers = [gateway.get("/api/v1/tasks", headers=auth(READER)) for _ in range(12)]
    codes = [answer.status_code for answer in answers]
    assert codes[:5] == [200] * 5 and 429 in codes[5:], codes
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["Retry-After"]) >= 1
    assert "api key" in refused.text.lower()
    # Another key has its own budget, and a key's writes are not spent by its reads.
    assert gateway.get("/api/v1/tasks", headers=auth(API_KEY)).status_code == 200


def test_writes_have_their_own_budget(gateway: TestClient) -> None:
    for _ in range(6):
        gateway.get("/api/v1/tasks", headers=auth(OTHER_ADMIN))
    purge = "/api/v1/queues/orders.normal/purge"
    codes = [gateway.post(purge, headers=auth(OTHER_ADMIN)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_admin_actions_are_audited_with_their_outcome(gateway: TestClient) -> None:
    assert gateway.post("/api/v1/queues/orders.normal/purge", headers=auth(API_KEY)).is_success
    refused = gateway.post("/api/v1/queues/orders.normal/purge", headers=auth(READER))
    assert refused.status_code == 403
    missing = gateway.post("/api/v1/tasks/no-such-task/cancel", headers=auth(API_KEY))
    assert missing.status_code == 404
    stranger = gateway.post("/api/v1/queues/orders.normal/purge", headers=auth("not-a-key"))
    assert stranger.status_code == 401

    log = gateway.get("/api/v1/audit", headers=auth(OTHER_ADMIN))
    assert log.status_code == 200
    entries = [
        (e["key_id"], e["action"], e["target"], e["outcome"], e["status"])
        for e in reversed(log.json()["items"])
    ]
    assert entries == [
        (key_id(API_KEY), "queue.purge", "/api/v1/queues/orders.normal/purge", "succeeded", 200),
        (key_id(READER), "queue.purge", "/api/v1/queues/orders.normal/purge", "refused", 403),
        (key_id(API_KEY), "task.cancel", "/api/v1/tasks/no-such-task/cancel", "not_found", 404),
    ]  # nothing for the stranger: strangers must not be able to fill the audit log
    assert API_KEY not in log.text and READER not in log.text  # ids, never the keys
    by_key = gateway.get(
        "/api/v1/audit", params={"key_id": key_id(READER)}, headers=auth(API_KEY)
    ).json()["items"]
    assert [e["outcome"] for e in by_key] == ["refused"]


def test_read_only_keys_cannot_read_the_audit_log(gateway: TestClient) -> None:
    assert gateway.get("/api/v1/audit", headers=auth(READER)).status_code == 403
    assert gateway.get("/api/v1/audit").status_code == 401
