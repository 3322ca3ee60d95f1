"""Issue 17, item 10: money overflows.

`unit_amount × quantity` was unbounded: a valid-looking order got its 202, then failed in the
orders database on every attempt. On PostgreSQL, with a real orders worker: the overflowing
order is a 422 naming its field, through the orders route and through a command submitted by
name, and a large but valid amount (above 2^31) is stored whole.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from security_gateway import AUTH, ORDER, LiveGateway, live_gateway
from sqlalchemy import text
from switchboard_shared.db import create_db_engine
from switchboard_shared.testsupport import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
TWO_TO_THE_31 = 2**31


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with live_gateway(tmp_path_factory.mktemp("money"), "orders") as live:
        yield live


def order_with(quantity: int, unit_amount: int) -> dict[str, Any]:
    order = copy.deepcopy(ORDER)
    order["items"] = [{"sku": "bracket", "quantity": quantity, "unit_amount": unit_amount}]
    return order


def refused_fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [detail["field"] for detail in response.json()["error"]["details"]]


def stored_amount(platform: LiveGateway, order_id: str) -> int | None:
    engine = create_db_engine(platform.database_url("orders"))
    try:
        with engine.connect() as connection:
            query = text("select amount from orders where id = :id")
            return connection.execute(query, {"id": order_id}).scalar()
    finally:
        engine.dispose()


def test_an_overflowing_order_is_a_422_naming_its_field(platform: LiveGateway) -> None:
    post = platform.client.post
    huge_unit = post("/api/v1/orders", json=order_with(1, 10**30), headers=AUTH)
    huge_total = post("/api/v1/orders", json=order_with(100_000, 10**10), headers=AUTH)
    by_name = post(
        "/api/v1/tasks",
        json={"name": "orders.create", "args": {**order_with(4, 2**62), "order_id": "ord_x"}},
        headers=AUTH,
    )

    assert refused_fields(by_name) == ["args.items[0].unit_amount"], "never a 202"
    assert refused_fields(huge_unit) == ["items[0].unit_amount"]
    assert refused_fields(huge_total) == ["items"]


def test_a_large_valid_amount_is_stored_whole(platform: LiveGateway) -> None:
    response = platform.client.post(
        "/api/v1/orders", json=order_with(2, 3_000_000_000), headers=AUTH
    )

    assert response.status_code == 202, response.text
    order_id = response.json()["order_id"]
    wait_until(lambda: stored_amount(platform, order_id) is not None, 60, 0.2)
    assert stored_amount(platform, order_id) == 6_000_000_000 > TWO_TO_THE_31
