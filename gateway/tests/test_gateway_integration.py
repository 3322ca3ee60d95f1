"""Against real servers: a leased Redis test database and the gateway under uvicorn."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from gateway_fakes import valid_order
from switchboard_gateway.sender import BrokerUnavailable, CeleryCommandSender
from switchboard_shared.commands import CORRELATION_HEADER
from switchboard_shared.contracts.orders import CreateOrder
from switchboard_shared.testsupport import provider_secrets

QUEUE = CreateOrder.queue

pytestmark = pytest.mark.integration


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def queued_messages(broker: redis.Redis) -> list[dict[str, Any]]:
    raw_messages: list[bytes] = broker.lrange(QUEUE, 0, -1)  # type: ignore[assignment]
    return [json.loads(raw) for raw in raw_messages]


def task_args(message: dict[str, Any]) -> list[Any]:
    args: list[Any] = json.loads(base64.b64decode(message["body"]))[0]
    return args


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_create_order_lands_in_the_orders_critical_list(
    broker: redis.Redis, redis_url: str
) -> None:
    command = CreateOrder(order_id="ord_redis_1", **valid_order())

    task_id = CeleryCommandSender.for_broker(redis_url).send(command, "corr-redis-1")

    [message] = queued_messages(broker)
    assert message["headers"]["task"] == "orders.create"
    assert message["headers"]["id"] == task_id
    assert message["headers"][CORRELATION_HEADER] == "corr-redis-1"
    assert message["content-type"] == "application/json"
    assert task_args(message) == [command.model_dump(mode="json")]


def test_unreachable_broker_raises_broker_unavailable() -> None:
    sender = CeleryCommandSender.for_broker(f"redis://127.0.0.1:{free_port()}/15")

    with pytest.raises(BrokerUnavailable):
        sender.send(CreateOrder(order_id="ord_nowhere", **valid_order()), "corr-x")


@pytest.fixture
def gateway_url(broker: redis.Redis, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        **provider_secrets(),
        "SWITCHBOARD_API_KEYS": "dev-key",
        "SWITCHBOARD_BROKER_URL": redis_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "switchboard_gateway.main:app", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr:
            process.stderr.close()


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"gateway exited with {process.returncode}: {stderr}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("gateway did not become healthy")


def test_gateway_over_real_http(gateway_url: str, broker: redis.Redis) -> None:
    auth = {"Authorization": "Bearer dev-key"}
    big = b"x" * (2 * 1024 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    with httpx.Client(base_url=gateway_url, timeout=10) as http:
        assert http.get("/api/v1/health").json() == {"status": "ok"}
        assert http.post("/api/v1/orders", json=valid_order()).status_code == 401
        wrong = http.post(
            "/api/v1/orders", json=valid_order(), headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"

        sized = http.post("/api/v1/orders", content=big, headers=auth)
        assert sized.status_code == 413
        assert sized.json()["error"]["code"] == "payload_too_large"
        streamed = http.post("/api/v1/orders", content=chunks(), headers=auth)
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"

        accepted = http.post(
            "/api/v1/orders", json=valid_order(), headers={**auth, "X-Correlation-Id": "e2e-1"}
        )
        assert accepted.status_code == 202
        assert accepted.headers["x-correlation-id"] == "e2e-1"

    body = accepted.json()
    assert body["status_url"] == f"/api/v1/tasks/{body['task_id']}"
    [message] = queued_messages(broker)
    assert message["headers"]["id"] == body["task_id"]
    assert message["headers"][CORRELATION_HEADER] == body["order_id"], "the order id is the flow's"
    assert task_args(message)[0]["order_id"] == body["order_id"]
