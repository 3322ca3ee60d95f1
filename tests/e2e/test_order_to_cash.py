"""The order-to-cash flow across real processes: gateway, five workers, localstripe with
signed webhooks, Redis as the broker, PostgreSQL for orders and payments, an SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from switchboard_shared.testsupport import (
    WorkerProcess,
    free_port,
    pg_database,
    provider_secrets,
    redis_database,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
KEY = "e2e-key"
SECRETS = provider_secrets()  # as a deploy sets them: there is no default
WEBHOOK_SECRET = SECRETS["STRIPE_WEBHOOK_SECRET"]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@dataclass
class Platform:
    http: httpx.Client
    workers: dict[str, WorkerProcess]
    inbox: Inbox
    data: Path
    broker: str

    def order(self, order_id: str) -> dict[str, Any]:
        return self.http.get(f"/api/v1/orders/{order_id}").json()  # type: ignore[no-any-return]

    def wait_status(self, order_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        wait_until(lambda: self.order(order_id)["status"] in statuses, timeout, 0.3)
        return self.order(order_id)


def _process(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    data = tmp_path_factory.mktemp("o2c")
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    stripe_port, api_port = free_port(), free_port()
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_API_KEYS": KEY,
            **SECRETS,
            "ORDERS_DATABASE_URL": stack.enter_context(pg_database()),
            "PAYMENTS_DATABASE_URL": stack.enter_context(pg_database()),
            "PAYMENTS_STRIPE_API_BASE": f"http://127.0.0.1:{stripe_port}",
            "EMAIL_SMTP_HOST": "127.0.0.1",
            "EMAIL_SMTP_PORT": str(smtp.port),
        }
        processes = [
            _process(
                [sys.executable, "-m", "localstripe", "--port", str(stripe_port), "--from-scratch"],
                env,
                data / "localstripe.log",
            ),
            _process(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "switchboard_gateway.main:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(api_port),
                ],
                env,
                data / "gateway.log",
            ),
        ]
        workers: dict[str, WorkerProcess] = {}
        try:
            for name, module in [
                ("gateway", "switchboard_gateway.app"),
                ("orders", "switchboard_orders.app"),
                ("payments", "switchboard_payments.app"),
                ("email", "switchboard_email.app"),
            ]:
                workers[name] = WorkerProcess(
                    module, env, data / f"{name}.log", concurrency=2
                ).start(60)
            base = f"http://127.0.0.1:{api_port}"
            wait_until(lambda: _answers(f"{base}/api/v1/health"), 30)
            wait_until(
                lambda: _answers(f"http://127.0.0.1:{stripe_port}/v1/balance", auth=True), 30
            )
            httpx.post(
                f"http://127.0.0.1:{stripe_port}/_config/webhooks/e2e",
                data={"url": f"{base}/webhooks/stripe", "secret": WEBHOOK_SECRET},
            ).raise_for_status()
            with httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=20
            ) as http:
                yield Platform(http, workers, inbox, data, broker)
        finally:
            for worker in workers.values():
                worker.stop()
            for process in processes:
                process.terminate()
                process.wait(10)
            smtp.stop()


def _answers(url: str, auth: bool = False) -> bool:
    try:
        headers = {"Authorization": "Bearer sk_test_x"} if auth else {}
        return httpx.get(url, headers=headers, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


ORDER = {
    "customer": {"email": "ada@example.com", "phone": "+15555550100"},
    "category": "cnc-machining",
    "region": "eu-west",
    "items": [{"sku": "bracket", "quantity": 3, "unit_amount": 1250}],
    "currency": "usd",
}


def test_an_order_is_paid_matched_and_confirmed_with_one_correlation_id(platform: Platform) -> None:
    supplier = platform.http.post(
        "/api/v1/suppliers",
        json={
            "name": "Acme Machining",
            "categories": ["cnc-machining"],
            "region": "eu-west",
            "capacity": 100,
        },
    )
    assert supplier.status_code == 201, supplier.text

    accepted = platform.http.post(
        "/api/v1/orders", json={**ORDER, "payment_method": "pm_card_visa"}
    )
    assert accepted.status_code == 202, accepted.text
    order_id = accepted.json()["order_id"]

    order = platform.wait_status(order_id, "matched")
    assert order["supplier_id"] == supplier.json()["supplier_id"]
    assert order["amount"] == 3750 and order["payment_id"]
    types = [event["type"] for event in order["timeline"]]
    flow = [t for t in types if t in ("order-created", "payment-succeeded", "order-matched")]
    assert flow == ["order-created", "payment-succeeded", "order-matched"]
    assert {event["correlation_id"] for event in order["timeline"]} == {order_id}

    wait_until(
        lambda: any(
            b"ada@example.com" in m.original_content and order_id.encode() in m.original_content
            for m in platform.inbox.messages
        ),
        30,
    )


def test_a_declined_card_ends_in_payment_failed_with_the_reason_and_no_retry(
    platform: Platform,
) -> None:
    accepted = platform.http.post(
        "/api/v1/orders", json={**ORDER, "payment_method": "pm_card_chargeCustomerFail"}
    )
    order_id = accepted.json()["order_id"]

    order = platform.wait_status(order_id, "payment_failed")
    assert "declined" in (order["failure_reason"] or "")
    assert "payment-failed" in [event["type"] for event in order["timeline"]]
    payments_log = platform.workers["payments"].output()
    assert (
        "retry"
        not in "\n".join(line for line in payments_log.splitlines() if order_id in line).lower()
    )


def test_stripe_webhooks_arrive_signed_and_repeat_deliveries_change_nothing(
    platform: Platform,
) -> None:
    accepted = platform.http.post(
        "/api/v1/orders", json={**ORDER, "payment_method": "pm_card_visa"}
    )
    order_id = accepted.json()["order_id"]
    platform.wait_status(order_id, "matched", "unmatched")
    events = platform.http.get(
        f"/api/v1/events?correlation_id={order_id}&type=stripe-event-received"
    )
    wait_until(
        lambda: (
            platform.http.get(
                f"/api/v1/events?correlation_id={order_id}&type=stripe-event-received"
            ).json()["total"]
            >= 1
        ),
        30,
    )
    assert events.status_code == 200
    succeeded = platform.http.get(
        f"/api/v1/events?correlation_id={order_id}&type=payment-succeeded"
    )
    assert succeeded.json()["total"] == 1, "the webhook did not double the payment's effect"


def test_an_unmatched_order_is_matched_by_the_beat_job_once_capacity_exists(
    platform: Platform,
) -> None:
    from celery import Celery
    from switchboard_orders.commands import RematchUnmatched
    from switchboard_shared.commands import send_command

    order = {**ORDER, "category": "anodising", "payment_method": "pm_card_visa"}
    order_id = platform.http.post("/api/v1/orders", json=order).json()["order_id"]
    assert platform.wait_status(order_id, "unmatched")["supplier_id"] is None

    supplier = platform.http.post(
        "/api/v1/suppliers",
        json={
            "name": "Anodise Ltd",
            "categories": ["anodising"],
            "region": "eu-west",
            "capacity": 5,
        },
    ).json()["supplier_id"]
    client = Celery("ops", broker=platform.broker, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"])
    send_command(client, RematchUnmatched())  # what the beat sends every 15 minutes

    assert platform.wait_status(order_id, "matched")["supplier_id"] == supplier


def test_cancelling_a_paid_order_refunds_it(platform: Platform) -> None:
    order_id = platform.http.post(
        "/api/v1/orders", json={**ORDER, "payment_method": "pm_card_visa"}
    ).json()["order_id"]
    platform.wait_status(order_id, "matched", "unmatched")
    assert platform.http.post(f"/api/v1/orders/{order_id}/cancel").status_code == 202

    order = platform.wait_status(order_id, "refunded")
    types = [event["type"] for event in order["timeline"]]
    assert "order-cancelled" in types and "payment-refunded" in types


def test_fifty_concurrent_orders_against_capacity_ten_match_exactly_ten(platform: Platform) -> None:
    from concurrent.futures import ThreadPoolExecutor

    platform.http.post(
        "/api/v1/suppliers",
        json={
            "name": "Small Shop",
            "categories": ["powder-coating"],
            "region": "eu-west",
            "capacity": 10,
        },
    ).raise_for_status()
    order = {
        **ORDER,
        "category": "powder-coating",
        "payment_method": "pm_card_visa",
        "items": [{"sku": "panel", "quantity": 1, "unit_amount": 500}],
    }

    def place(_: int) -> str:
        return str(platform.http.post("/api/v1/orders", json=order).json()["order_id"])

    with ThreadPoolExecutor(max_workers=10) as pool:
        order_ids = list(pool.map(place, range(50)))

    def settled() -> list[str] | None:
        statuses = [platform.order(o)["status"] for o in order_ids]
        return statuses if all(s in ("matched", "unmatched") for s in statuses) else None

    statuses = wait_until(settled, 120, 1.0)
    assert statuses.count("matched") == 10  # type: ignore[union-attr]
    assert statuses.count("unmatched") == 40  # type: ignore[union-attr]


def test_a_webhook_delivered_three_times_and_out_of_order_has_one_effect(
    platform: Platform,
) -> None:
    import hashlib
    import hmac
    import json
    import time

    order_id = platform.http.post(
        "/api/v1/orders", json={**ORDER, "payment_method": "pm_card_visa"}
    ).json()["order_id"]
    order = platform.wait_status(order_id, "matched", "unmatched")
    intent = {
        "id": order["payment_id"],
        "object": "payment_intent",
        "amount": 3750,
        "currency": "usd",
        "metadata": {"order_id": order_id},
    }

    def deliver(event_id: str, kind: str, status: str) -> int:
        body = json.dumps(
            {
                "id": event_id,
                "type": kind,
                "created": int(time.time()),
                "data": {"object": {**intent, "status": status}},
            }
        ).encode()
        stamp = int(time.time())
        digest = hmac.new(WEBHOOK_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        return platform.http.post(
            "/webhooks/stripe",
            content=body,
            headers={
                "Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}",
                "Content-Type": "application/json",
            },
        ).status_code

    assert [deliver("evt_dup_1", "payment_intent.succeeded", "succeeded") for _ in range(3)] == [
        200
    ] * 3
    assert deliver("evt_late_processing", "payment_intent.processing", "processing") == 200
    time.sleep(3)

    final = platform.order(order_id)
    assert final["status"] == order["status"], "nothing moved backwards"
    succeeded = platform.http.get(
        f"/api/v1/events?correlation_id={order_id}&type=payment-succeeded"
    )
    assert succeeded.json()["total"] == 1
