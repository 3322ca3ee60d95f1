"""A second `make run` on the data of the first starts cleanly and carries on: the order placed
in the first run is still there (gateway read model and orders' database), new work flows, and
a launcher killed with SIGKILL leaves nothing the next run cannot clear."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx
import pytest
from standalone_run import AUTH, standalone
from switchboard_gateway.api.orders import ORDER_EXAMPLE
from switchboard_gateway.standalone.processes import group_members
from switchboard_shared.testsupport import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def place_order(base: str) -> str:
    response = httpx.post(f"{base}/api/v1/orders", json=ORDER_EXAMPLE, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["order_id"])


def order_status(base: str, order_id: str) -> str:
    response = httpx.get(f"{base}/api/v1/orders/{order_id}", headers=AUTH, timeout=30)
    return str(response.json().get("status")) if response.status_code == 200 else ""


@pytest.mark.timeout(1500)
def test_a_second_run_carries_on_with_the_first_runs_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with standalone(data, tmp_path / "first.out") as first:
        first.wait_for_banner()
        order_id = place_order(first.base)
        wait_until(lambda: order_status(first.base, order_id) == "unmatched", timeout=180)
        first.process.send_signal(signal.SIGTERM)
        assert first.process.wait(60) == 0, first.text()[-3000:]

    with standalone(data, tmp_path / "second.out") as second:
        second.wait_for_banner()
        # the first run's order (the first answers can be slow while everything warms up)
        wait_until(lambda: order_status(second.base, order_id) == "unmatched", timeout=120)
        another = place_order(second.base)
        wait_until(lambda: order_status(second.base, another) == "unmatched", timeout=180)
        second.kill_launcher_only()  # killed outright: the next run has to clear up after it

    with standalone(data, tmp_path / "third.out") as third:
        third.wait_for_banner()
        assert "left by an earlier run" in third.text()
        wait_until(lambda: order_status(third.base, another) == "unmatched", timeout=120)
        groups = json.loads((data / "run" / "standalone.json").read_text())["children"].values()
        third.process.send_signal(signal.SIGTERM)
        assert third.process.wait(60) == 0, third.text()[-3000:]
        assert not (data / "run" / "standalone.json").exists()
        assert [g for g in groups if group_members(g)] == []
