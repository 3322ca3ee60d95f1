"""Integrations across real parts: the gateway over HTTP, a real integrations worker on a real
Redis broker, real HTTP receivers, the local Twilio API sending signed callbacks."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from integrations_receivers import Receiver
from standardwebhooks.webhooks import Webhook
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_gateway.sender import make_celery_client
from switchboard_integrations.localtwilio import LocalTwilio
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.orders import OrderMatched, OrderUnmatched
from switchboard_shared.contracts.payments import PaymentRefunded
from switchboard_shared.envelopes import wrap
from switchboard_shared.publisher import CeleryEventPublisher
from switchboard_shared.testsupport import (
    WorkerProcess,
    free_port,
    provider_secrets,
    redis_database,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
KEY = "e2e-integrations-key"
DEADLINE = 1.5
DISABLE_AFTER = 4.0


@dataclass
class Platform:
    http: httpx.Client
    receiver: Receiver
    twilio: LocalTwilio
    worker: WorkerProcess
    data: Path
    publisher: CeleryEventPublisher

    def register(self, path: str, event_type: str) -> dict[str, Any]:
        body = {"url": self.receiver.url(path), "events": [event_type]}
        answer = self.http.post("/api/v1/webhook-endpoints", json=body)
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        self.receiver.secrets[path] = created["secret"]
        return created

    def publish(self, event: Event, producer: str) -> None:
        envelope = wrap(event, service=producer, context=MessageContext.new("e2e"))
        self.publisher.publish([envelope.model_dump(mode="json")])

    def attempts(self, endpoint_id: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
        assert answer.status_code == 200, answer.text
        return list(reversed(answer.json()["items"]))  # oldest first

    def events(self, event_type: str) -> list[str]:
        with sqlite3.connect(self.data / "integrations.db") as db:
            rows = db.execute(
                "select envelope from outbox where event_type = ?", (event_type,)
            ).fetchall()
        return [row[0] for row in rows]


def start_gateway(settings: GatewaySettings, port: int) -> uvicorn.Server:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    wait_until(lambda: server.started, 60)
    return server


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("integrations-e2e")
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    receiver = Receiver("whsec_unused", slow_seconds=3.0).start()
    secrets = provider_secrets()
    token = secrets["TWILIO_AUTH_TOKEN"]
    twilio = LocalTwilio(token, port=0, callback_delay=0.1).start()
    with redis_database() as broker:
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_ALLOW_PRIVATE_WEBHOOKS": "1",
            "SWITCHBOARD_PUBLIC_URL": public_url,
            "SWITCHBOARD_LOG_JSON": "false",
            "INTEGRATIONS_WEBHOOK_RETRY_SCHEDULE": "0,1,1",
            "INTEGRATIONS_WEBHOOK_TIMEOUT_SECONDS": "0.5",
            "INTEGRATIONS_WEBHOOK_DEADLINE_SECONDS": str(DEADLINE),
            "INTEGRATIONS_WEBHOOK_DISABLE_AFTER_SECONDS": str(DISABLE_AFTER),
            "INTEGRATIONS_WEBHOOK_BUSY_RETRY_SECONDS": "0.3",
            "INTEGRATIONS_WEBHOOK_ALLOWED_PORTS": str(receiver.port),  # a local test receiver
            "INTEGRATIONS_TWILIO_BASE_URL": twilio.url,
            "TWILIO_AUTH_TOKEN": token,
        }
        worker = WorkerProcess(
            "switchboard_integrations.app", env, data / "worker.log", concurrency=2
        ).start(timeout=90)
        settings = GatewaySettings(
            api_keys=KEY,
            broker_url=broker,
            data_dir=data / "gateway",
            public_url=public_url,
            allow_private_webhooks=True,
            webhook_allowed_ports=[receiver.port],  # the gateway refuses other ports at once
            stripe_webhook_secret=secrets["STRIPE_WEBHOOK_SECRET"],
            twilio_auth_token=token,
        )
        gateway = start_gateway(settings, port)
        headers = {"Authorization": f"Bearer {KEY}"}
        publisher = CeleryEventPublisher(make_celery_client(broker))
        with httpx.Client(base_url=public_url, headers=headers, timeout=30) as http:
            try:
                yield Platform(http, receiver, twilio, worker, data, publisher)
            finally:
                gateway.should_exit = True
                worker.stop()
                receiver.stop()
                twilio.stop()


def matched(order_id: str) -> OrderMatched:
    return OrderMatched(
        order_id=order_id,
        supplier_id="sup_1",
        customer_email="ada@example.com",
        amount=2599,
        currency="usd",
    )


def test_deliveries_are_signed_retried_on_schedule_listed_and_replayable(
    platform: Platform,
) -> None:
    receiver = platform.receiver
    verify = platform.register("/verify", "order-matched")
    flaky = platform.register("/flaky", "order-matched")
    slow = platform.register("/slow", "order-matched")
    redirect = platform.register("/redirect-metadata", "order-matched")
    platform.publish(matched("ord_e2e_1"), "orders")

    wait_until(lambda: len(receiver.at("/verify")) == 1 and len(receiver.at("/flaky")) == 2, 60)
    [first] = receiver.at("/verify")
    assert first.verified is True
    assert Webhook(verify["secret"]).verify(first.body, first.headers)["data"]["order_id"] == (
        "ord_e2e_1"
    )
    retries = receiver.at("/flaky")
    assert all(r.verified for r in retries)
    assert len({r.headers["webhook-id"] for r in retries}) == 1
    assert len({r.headers["webhook-timestamp"] for r in retries}) == 2
    assert len({r.headers["webhook-signature"] for r in retries}) == 2

    def outcomes(endpoint: dict[str, Any]) -> list[tuple[str, int | None]]:
        return [
            (a["outcome"], a["status_code"]) for a in platform.attempts(endpoint["endpoint_id"])
        ]

    wait_until(lambda: outcomes(flaky) == [("failed", 500), ("delivered", 200)], 30)
    wait_until(lambda: len(outcomes(slow)) == 3 and len(outcomes(redirect)) == 3, 60, 0.5)
    assert all(a["error"].startswith("timed out") for a in platform.attempts(slow["endpoint_id"]))
    assert outcomes(redirect) == [("failed", 302)] * 3
    assert platform.attempts(slow["endpoint_id"])[-1]["delivery_status"] == "failed"

    [attempt] = platform.attempts(verify["endpoint_id"])
    replay = (
        f"/api/v1/webhook-endpoints/{verify['endpoint_id']}"
        f"/deliveries/{attempt['delivery_id']}/replay"
    )
    time.sleep(1.0)  # a fresh timestamp is a later second
    assert platform.http.post(replay).status_code == 202
    wait_until(lambda: len(receiver.at("/verify")) == 2, 30)
    again = receiver.at("/verify")[1]
    assert again.verified and again.headers["webhook-id"] == first.headers["webhook-id"]
    assert int(again.headers["webhook-timestamp"]) > int(first.headers["webhook-timestamp"])
    wait_until(lambda: len(platform.events("webhook-delivered")) >= 3, 20)
    assert len(platform.events("webhook-failed")) >= 2


def test_a_tarpit_receiver_cannot_exhaust_the_worker_pool(platform: Platform) -> None:
    receiver = platform.receiver
    platform.register("/tarpit", "order-unmatched")
    platform.register("/fast", "order-unmatched")
    started = time.monotonic()
    for n in range(3):
        platform.publish(OrderUnmatched(order_id=f"ord_tarpit_{n}", reason="none"), "orders")
    wait_until(lambda: len(receiver.at("/fast")) == 3, 30)
    took = time.monotonic() - started
    # Three tarpit deliveries back to back would hold a process for 3 x the deadline; the
    # fast endpoint was served alongside, with the tarpit never holding more than one process.
    assert receiver.most_in_tarpit == 1
    assert len(receiver.at("/tarpit")) < 3 or took < 3 * DEADLINE
    assert all(r.verified for r in receiver.at("/fast"))


def test_an_endpoint_failing_for_the_span_is_disabled_with_an_event(platform: Platform) -> None:
    failing = platform.register("/fail", "payment-refunded")

    def refund(order_id: str) -> PaymentRefunded:
        return PaymentRefunded(payment_id="pay_1", order_id=order_id, amount=1, currency="usd")

    platform.publish(refund("ord_fail_1"), "payments")
    wait_until(lambda: len(platform.attempts(failing["endpoint_id"])) >= 1, 30)
    time.sleep(DISABLE_AFTER)
    platform.publish(refund("ord_fail_2"), "payments")
    endpoint_id = failing["endpoint_id"]

    def disabled() -> bool:  # other tests' failing endpoints may be disabled too
        return any(endpoint_id in event for event in platform.events("webhook-endpoint-disabled"))

    wait_until(disabled, 30)
    answer = platform.http.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries")
    assert answer.json()["endpoint_status"] == "disabled"


def test_an_sms_is_sent_through_twilio_and_followed_to_delivered(platform: Platform) -> None:
    accepted = platform.http.post("/api/v1/sms", json={"to": "+14155552671", "body": "Shipped"})
    assert accepted.status_code == 202, accepted.text
    failing = platform.http.post("/api/v1/sms", json={"to": "+15005550010", "body": "x"})
    assert failing.status_code == 202
    wait_until(lambda: platform.events("sms-delivered") and platform.events("sms-failed"), 60)
    assert accepted.json()["sms_id"] in platform.events("sms-delivered")[0]
    assert "30003" in platform.events("sms-failed")[0]
    assert len(platform.events("sms-sent")) == 2
    assert all(answer == 200 for _, _, answer in platform.twilio.callbacks)
