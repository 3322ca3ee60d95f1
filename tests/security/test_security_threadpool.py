"""Issue 17, item 5: operations reads starving the provider webhooks.

The attack (a read-only key is enough): `GET /api/v1/dead-letters` asked the six services one
after another, 5 s each, on Starlette's shared thread pool (40 threads), which the provider
webhooks also use. Forty such reads while no worker answers hold every thread for 30 s, and
Stripe's callbacks wait behind them (Stripe times out and retries, then disables the endpoint).

After: the services are asked at once under one deadline (the read answers with what arrived
and names the rest), on threads of the ops reads' own, and the webhooks have threads of their
own. A real gateway process, a real Redis broker with no worker answering, real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import stripe
from switchboard_shared.testsupport import (
    free_port,
    pg_database,
    provider_secrets,
    redis_database,
    terminate,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

READER = "ops-reader-key"
SLOW_READS = 40
ANSWER_SECONDS = 5.0  # the gateway's wait for a service's answer
SERVICES = 6


@dataclass
class Gateway:
    url: str
    webhook_secret: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("starvation")
    secrets = provider_secrets()
    port = free_port()
    with redis_database() as broker, pg_database() as database:
        env = {
            **os.environ,
            **secrets,
            "SWITCHBOARD_BROKER_URL": broker,  # no worker consumes it: every ask waits it out
            "SWITCHBOARD_DATA_DIR": str(data),
            "SWITCHBOARD_READONLY_API_KEYS": READER,
            "SWITCHBOARD_LOG_LEVEL": "WARNING",
            "GATEWAY_DATABASE_URL": database,
        }
        command = [sys.executable, "-m", "uvicorn", "switchboard_gateway.main:app"]
        command += ["--port", str(port), "--log-level", "warning"]
        log = (data / "gateway.log").open("wb")
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _up(url, process), 120, 0.3)
            found = Gateway(url, secrets["STRIPE_WEBHOOK_SECRET"])
            assert webhook(found, "evt_warm_up")[0] == 200  # the database opened and migrated
            yield found
        finally:
            terminate(process)  # type: ignore[arg-type]
            log.close()


def _up(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "the gateway exited"
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def webhook(gateway: Gateway, event_id: str) -> tuple[int, float]:
    """A valid signed Stripe event; its status and how long the answer took."""
    body = json.dumps(
        {
            "id": event_id,
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {"object": {"id": f"pi_{event_id}", "metadata": {"order_id": event_id}}},
        }
    )
    header = stripe.WebhookSignature.generate_signature_header(body, gateway.webhook_secret)
    headers = {"Stripe-Signature": header, "Content-Type": "application/json"}
    began = time.monotonic()
    status = httpx.post(f"{gateway.url}/webhooks/stripe", content=body, headers=headers, timeout=60)
    return status.status_code, time.monotonic() - began


async def slow_reads(url: str, count: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {READER}"}
    limits = httpx.Limits(max_connections=count + 5)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=headers) as client:
        reads = [client.get(f"{url}/api/v1/dead-letters") for _ in range(count)]
        return list(await asyncio.gather(*reads))


@pytest.mark.timeout(300)
def test_a_provider_webhook_answers_while_forty_slow_reads_are_in_flight(
    gateway: Gateway,
) -> None:
    assert webhook(gateway, "evt_warm_up")[0] == 200  # first-use costs are not what is measured
    reads: list[httpx.Response] = []
    runner = _in_thread(lambda: reads.extend(asyncio.run(slow_reads(gateway.url, SLOW_READS))))
    time.sleep(1.5)  # every read has reached the gateway and is waiting on the services
    assert runner.is_alive(), "the reads are still in flight"

    timings = [webhook(gateway, f"evt_during_{i}") for i in range(3)]
    runner.join(120)

    assert [status for status, _ in timings] == [200] * 3
    assert max(seconds for _, seconds in timings) < 1.0, timings
    assert len(reads) == SLOW_READS and {r.status_code for r in reads} == {200}
    assert {len(r.json()["unavailable"]) for r in reads} == {SERVICES}, "each read was slow"


@pytest.mark.timeout(120)
def test_dead_letters_asks_every_service_at_once_under_one_deadline(gateway: Gateway) -> None:
    began = time.monotonic()
    answer = httpx.get(
        f"{gateway.url}/api/v1/dead-letters",
        headers={"Authorization": f"Bearer {READER}"},
        timeout=60,
    )
    took = time.monotonic() - began

    assert answer.status_code == 200
    assert len(answer.json()["unavailable"]) == SERVICES, "each silent service is named"
    assert took < ANSWER_SECONDS + 2.0, f"one deadline, not one per service: {took:.1f}s"


def _in_thread(work: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread
