"""Issue 17, item 8: an order never vanishes after its 202.

The broker refuses the order's command, or goes away mid-request, on a RabbitMQ vhost of the
test's own: the gateway answers 503 with Retry-After and spends no Idempotency-Key on it, and
the client's retry with the same key, once the broker is back, makes exactly one order.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from kombu import Connection
from security_gateway import AUTH, ORDER, gateway_client, gateway_settings
from switchboard_shared.testsupport import pg_database, rabbit_vhost, redis_database

pytestmark = pytest.mark.integration
ORDERS_QUEUE = "orders.critical"


@dataclass
class Rabbit:
    url: str
    vhost: str

    def ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)

    def take_orders(self) -> list[str]:
        """The order ids of the `orders.create` messages waiting, taken off the queue."""
        taken: list[str] = []
        with Connection(self.url) as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(ORDERS_QUEUE, no_ack=True)) is not None:
                assert message.headers["task"] == "orders.create"
                taken.append(json.loads(message.body)[0][0]["order_id"])
        return taken


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[TestClient, Rabbit]]:
    with rabbit_vhost() as broker, redis_database() as redis_url, pg_database() as database:
        settings = gateway_settings(tmp_path, broker, redis_url)
        with gateway_client(settings, database) as client:
            yield client, Rabbit(broker, broker.rsplit("/", 1)[1])


def place(client: TestClient, key: str | None = None) -> tuple[int, dict[str, object], str]:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    response = client.post("/api/v1/orders", json=ORDER, headers=headers)
    return response.status_code, response.json(), response.headers.get("retry-after", "")


def assert_unavailable(answer: tuple[int, dict[str, object], str]) -> None:
    status, body, retry_after = answer
    assert status == 503, body
    assert body["error"]["code"] == "service_unavailable"  # type: ignore[index]
    assert retry_after.isdigit(), "a 503 says when to come back"


def assert_one_order_after_retries(client: TestClient, rabbit: Rabbit, key: str) -> None:
    status, body, _ = place(client, key)
    assert status == 202, body
    assert rabbit.take_orders() == [body["order_id"]], "the retry's order is on its queue"
    again = place(client, key)
    assert again[:2] == (202, body)
    assert rabbit.take_orders() == [], "a later retry makes no second order"
    view = client.get(f"/api/v1/orders/{body['order_id']}", headers=AUTH)
    assert view.status_code == 200 and view.json()["status"] == "pending_payment"


def test_an_order_the_broker_refuses_is_a_503_and_the_retry_makes_one_order(
    platform: tuple[TestClient, Rabbit],
) -> None:
    client, rabbit = platform
    assert place(client)[0] == 202 and len(rabbit.take_orders()) == 1  # the queue exists
    # The orders queue refuses every message (as a full queue with reject-publish does):
    # without publisher confirms the publish "succeeds" and the message is dropped.
    limit = json.dumps({"max-length": 0, "overflow": "reject-publish"})
    rabbit.ctl("set_policy", "-p", rabbit.vhost, "--apply-to", "queues", "full", "^orders", limit)

    assert_unavailable(place(client, "refused-1"))
    assert rabbit.take_orders() == []

    rabbit.ctl("clear_policy", "-p", rabbit.vhost, "full")
    assert_one_order_after_retries(client, rabbit, "refused-1")


def test_a_broker_gone_mid_request_is_a_503_and_the_retry_makes_one_order(
    platform: tuple[TestClient, Rabbit],
) -> None:
    client, rabbit = platform
    assert place(client)[0] == 202 and len(rabbit.take_orders()) == 1  # a pooled connection
    # The broker drops the gateway's connection and takes no new one on this vhost.
    rabbit.ctl("set_vhost_limits", "-p", rabbit.vhost, json.dumps({"max-connections": 0}))
    rabbit.ctl("close_all_connections", "--vhost", rabbit.vhost, "broker going down")

    assert_unavailable(place(client, "gone-1"))

    rabbit.ctl("clear_vhost_limits", "-p", rabbit.vhost)
    assert rabbit.take_orders() == []
    assert_one_order_after_retries(client, rabbit, "gone-1")
