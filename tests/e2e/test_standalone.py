"""`switchboard-standalone` (what `make run` starts), for real: embedded Redis, localstripe, the
SMTP sink, the local Twilio API, five workers and the gateway's with beat, the task-ledger
consumer and the gateway; a supplier registered and an order placed
over HTTP reach `matched` through the outbox and the events exchange; `make demo` against it
shows a matched, a declined and an unmatched order; SIGTERM stops every process it started and
exits 0."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standalone_run import AUTH, Standalone, standalone
from switchboard_gateway.api.orders import ORDER_EXAMPLE
from switchboard_gateway.standalone.processes import group_members
from switchboard_gateway.standalone.processes import pid_alive as alive
from switchboard_shared.testsupport import wait_until

# The whole of `make run` (a dozen processes importing everything): `make test-slow`.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ORDER = ORDER_EXAMPLE


def rows(db: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as conn:
        try:
            return conn.execute(query, params).fetchall()
        except sqlite3.OperationalError:  # table not created yet
            return []


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Standalone]:
    with standalone(tmp_path / "data", tmp_path / "standalone.out") as run:
        yield run


@pytest.mark.timeout(900)  # start-up imports everything six times over: slow on a loaded machine
def test_standalone_runs_the_order_flow_and_stops_cleanly(launched: Standalone) -> None:
    process, data, port, output = launched.process, launched.data, launched.port, launched.output
    launched.wait_for_banner()
    text = output.read_text()
    assert "test-key" in text  # the key it uses, printed for copy and paste
    assert f"http://127.0.0.1:{port}/api/v1/orders" in text  # the curl that places an order

    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/api/v1/health", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/api/v1/health/ready", headers=AUTH, timeout=5)
    assert ready.status_code == 200, ready.text
    supplier = {
        "name": "Acme",
        "categories": ["cnc-machining"],
        "region": "eu-west",
        "capacity": 50,
    }
    response = httpx.post(f"{base}/api/v1/suppliers", json=supplier, headers=AUTH, timeout=30)
    assert response.status_code == 201, response.text
    response = httpx.post(f"{base}/api/v1/orders", json=ORDER, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]

    # orders' worker ran orders.create; its outbox published order-created over the embedded
    # Redis; payments' worker consumed it from payments.events and wrote its payment.
    wait_until(
        lambda: rows(data / "orders.db", "select status from orders where id = ?", order_id),
        timeout=90,
    )
    wait_until(
        lambda: rows(
            data / "payments.db", "select status from payments where order_id = ?", order_id
        ),
        timeout=90,
    )
    assert rows(
        data / "payments.db", "select amount from payments where order_id = ?", order_id
    ) == [(3750,)]

    def order_status() -> str:
        view = httpx.get(f"{base}/api/v1/orders/{order_id}", headers=AUTH, timeout=5)
        return str(view.json().get("status")) if view.status_code == 200 else ""

    wait_until(lambda: order_status() == "matched", timeout=120, interval=0.3)
    # email's worker confirmed it through the SMTP sink, which kept the message (a Maildir).
    delivered = data / "mail" / "new"
    wait_until(lambda: any(delivered.glob("*")), timeout=60, interval=0.3)
    confirmation = next(delivered.glob("*")).read_text()
    assert ORDER["customer"]["email"] in confirmation

    demo = subprocess.run(
        [sys.executable, "-m", "switchboard_gateway.standalone.demo", "--data-dir", str(data)],
        env={**os.environ, "SWITCHBOARD_API_KEYS": "test-key"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "paid and matched: ord_" in demo.stdout and "→ matched" in demo.stdout, demo.stdout
    assert "→ payment_failed" in demo.stdout, demo.stdout
    assert "→ unmatched" in demo.stdout, demo.stdout
    assert "payment-failed" in demo.stdout and "order-matched" in demo.stdout

    state = json.loads((data / "run" / "standalone.json").read_text())
    assert state["pid"] == process.pid
    assert set(state["children"]) == {
        "orders",
        "payments",
        "email",
        "reports",
        "integrations",
        "gateway-worker",
        "gateway-api",
        "localstripe",
        "smtp-sink",
        "local-twilio",
        "ledger",
    }
    started = set().union(*(set(group_members(pgid)) for pgid in state["children"].values()))
    assert state["redis_pid"] and alive(state["redis_pid"])
    started.add(state["redis_pid"])
    # each worker is a main process plus its pool: more processes than groups
    assert len(started) > len(state["children"]) + 1

    process.send_signal(signal.SIGTERM)
    assert process.wait(40) == 0, output.read_text()[-3000:]

    survivors = sorted(pid for pid in started if alive(pid))
    assert survivors == [], f"still running after shutdown: {survivors}"
    assert not (data / "run" / "standalone.json").exists()
    assert "Switchboard stopped." in output.read_text()
