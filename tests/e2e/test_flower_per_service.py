"""One service's Flower, run by the launcher against a real Redis broker shared with another
service's worker: basic auth everywhere (`/metrics` too, flower#1342), that service's workers only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from celery import Celery
from switchboard_shared.testsupport import (
    WorkerProcess,
    free_port,
    provider_secrets,
    redis_database,
    terminate,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
CREDENTIALS = ("ops", "flower-pw-1")


@dataclass
class FlowerUnderTest:
    url: str
    broker: str
    payments: WorkerProcess
    orders: WorkerProcess

    def get(self, path: str, authed: bool = True) -> httpx.Response:
        auth = CREDENTIALS if authed else None
        return httpx.get(self.url + path, auth=auth, timeout=30)


def _hostname(worker: WorkerProcess) -> str:
    [hostname] = [w for w in _ping(worker.env["SWITCHBOARD_BROKER_URL"]) if worker.app[:14] in w]
    return hostname


def _ping(broker: str) -> list[str]:
    client = Celery(broker=broker, set_as_current=False)
    try:
        return sorted(name for reply in client.control.ping(timeout=2) for name in reply)
    finally:
        client.close()


def _start_flower(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "switchboard_shared.flower", "payments", f"--port={port}"]
    return subprocess.Popen(
        command,
        env={**os.environ, **env, "PAYMENTS_FLOWER_BASIC_AUTH": ":".join(CREDENTIALS)},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/healthcheck", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def flower(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowerUnderTest]:
    data = tmp_path_factory.mktemp("flower")
    with ExitStack() as stack:
        broker = stack.enter_context(redis_database())
        env = {
            "SWITCHBOARD_BROKER_URL": broker,
            "SWITCHBOARD_DATA_DIR": str(data),
            **provider_secrets(),
        }
        workers = {
            name: WorkerProcess(f"switchboard_{name}.app", env, data / f"{name}.log")
            for name in ("payments", "orders")
        }
        port = free_port()
        process = _start_flower(env, port, data / "flower.log")
        stack.callback(terminate, process)
        for worker in workers.values():
            stack.callback(worker.stop)
        with ThreadPoolExecutor() as pool:  # the three start side by side
            list(pool.map(lambda worker: worker.start(timeout=120), workers.values()))
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url) or process.poll() is not None, timeout=60, interval=0.2)
        assert process.poll() is None, (data / "flower.log").read_text()
        yield FlowerUnderTest(url, broker, workers["payments"], workers["orders"])


@pytest.mark.parametrize("path", ["/", "/api/workers", "/metrics"])
def test_every_page_needs_credentials(flower: FlowerUnderTest, path: str) -> None:
    anonymous = flower.get(path, authed=False)
    wrong = httpx.get(flower.url + path, auth=("ops", "wrong"), timeout=30)

    assert anonymous.status_code == 401
    assert wrong.status_code == 401
    assert flower.get(path).status_code == 200


def test_revoke_needs_credentials(flower: FlowerUnderTest) -> None:
    path = f"{flower.url}/api/task/revoke/x"

    assert httpx.post(path, timeout=30).status_code == 401
    assert httpx.post(path, auth=("ops", "wrong"), timeout=30).status_code == 401
    assert httpx.post(path, auth=CREDENTIALS, timeout=30).status_code == 200


def test_lists_its_services_workers_and_no_other(flower: FlowerUnderTest) -> None:
    payments, orders = _hostname(flower.payments), _hostname(flower.orders)
    assert {payments, orders} <= set(_ping(flower.broker)), "both reach the shared broker"

    inspected = flower.get("/api/workers?refresh=1").json()
    wait_until(lambda: payments in flower.get("/api/workers?status=1").json(), timeout=30)
    from_events = flower.get("/api/workers?status=1").json()
    metrics = flower.get("/metrics").text

    assert list(inspected) == [payments]
    assert list(from_events) == [payments]
    assert f'worker="{payments}"' in metrics
    assert orders not in metrics
    assert flower.get(f"/api/workers?workername={orders}").status_code == 404
