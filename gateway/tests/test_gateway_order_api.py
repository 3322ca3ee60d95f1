"""Orders beyond submission: idempotency, status and timeline, suppliers, cancel."""

from __future__ import annotations

from fastapi.testclient import TestClient
from gateway_fakes import RecordingSender, UnavailableSender, order_created, valid_order
from sqlalchemy import func, select
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.eventlog import registry
from switchboard_gateway.main import create_app
from switchboard_gateway.models import OrderView
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.contracts.payments import PaymentSucceeded
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import handle_event


def deliver(client: TestClient, event: object, producer: str, order_id: str) -> None:
    """What the gateway worker does with an event from `gateway.events`."""
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    envelope = wrap(event, service=producer, context=MessageContext.new(order_id))  # type: ignore[arg-type]
    handle_event(envelope, registry, store.runtime.uow)


def test_same_idempotency_key_and_body_returns_the_same_order(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    headers = {**auth, "Idempotency-Key": "order-2026-11-23-001"}
    first = client.post("/api/v1/orders", json=valid_order(), headers=headers)
    second = client.post("/api/v1/orders", json=valid_order(), headers=headers)

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert len(sender.sent) == 1, "one command, one order"


def test_same_idempotency_key_with_another_body_is_409(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    headers = {**auth, "Idempotency-Key": "k-1"}
    client.post("/api/v1/orders", json=valid_order(), headers=headers)
    other = valid_order()
    other["items"][0]["quantity"] = 99
    conflict = client.post("/api/v1/orders", json=other, headers=headers)

    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "conflict"
    assert len(sender.sent) == 1


def test_unknown_order_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/api/v1/orders/ord_nope", headers=auth)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_order_status_follows_its_events_and_shows_the_timeline(
    client: TestClient, auth: dict[str, str]
) -> None:
    accepted = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()
    order_id = accepted["order_id"]
    assert (
        client.get(f"/api/v1/orders/{order_id}", headers=auth).json()["status"] == "pending_payment"
    )

    created = order_created(order_id)
    matched = OrderMatched(
        order_id=order_id,
        supplier_id="sup_1",
        customer_email="a@example.com",
        amount=3750,
        currency="usd",
    )
    paid = PaymentSucceeded(payment_id="pi_1", order_id=order_id, amount=3750, currency="usd")
    deliver(client, created, "orders", order_id)
    deliver(client, matched, "orders", order_id)  # arrives before the payment event
    deliver(client, paid, "payments", order_id)

    order = client.get(f"/api/v1/orders/{order_id}", headers=auth).json()
    assert order["status"] == "matched", "a late event never moves the order back"
    assert (order["supplier_id"], order["payment_id"], order["amount"]) == ("sup_1", "pi_1", 3750)
    assert [e["type"] for e in order["timeline"]] == [
        "order-created",
        "order-matched",
        "payment-succeeded",
    ]
    assert {e["correlation_id"] for e in order["timeline"]} == {order_id}

    log = client.get(f"/api/v1/events?correlation_id={order_id}&type=order-matched", headers=auth)
    assert log.json()["total"] == 1


def test_cancel_sends_the_command_for_a_known_order(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    order_id = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()["order_id"]
    response = client.post(f"/api/v1/orders/{order_id}/cancel", headers=auth)

    assert response.status_code == 202
    assert sender.sent[-1].command.task_name == "orders.cancel"
    assert client.post("/api/v1/orders/ord_nope/cancel", headers=auth).status_code == 404


def test_suppliers_are_created_and_listed_through_the_orders_service(
    settings: object, auth: dict[str, str]
) -> None:
    sender = RecordingSender(
        answers={
            "orders.create_supplier": {"supplier_id": "sup_42"},
            "orders.list_suppliers": {"items": [{"supplier_id": "sup_42"}], "total": 1},
        }
    )
    client = TestClient(create_app(settings, sender))  # type: ignore[arg-type]
    body = {"name": "Acme", "categories": ["cnc-machining"], "region": "eu-west", "capacity": 100}

    created = client.post("/api/v1/suppliers", json=body, headers=auth)
    listed = client.get("/api/v1/suppliers?category=cnc-machining", headers=auth)
    bad = client.post("/api/v1/suppliers", json={**body, "capacity": -1}, headers=auth)

    assert created.status_code == 201 and created.json() == {"supplier_id": "sup_42"}
    assert listed.json() == {
        "items": [{"supplier_id": "sup_42"}],
        "total": 1,
        "limit": 50,
        "offset": 0,
    }
    assert bad.status_code == 422 and "capacity" in str(bad.json()["error"]["details"])


def test_a_view_made_first_by_the_order_events_gets_the_task_id(client: TestClient) -> None:
    """The view is written after the command is sent, so the order's events may make it first."""
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    deliver(client, order_created("ord_early"), "orders", "ord_early")
    paid = PaymentSucceeded(payment_id="p", order_id="ord_early", amount=1, currency="usd")
    deliver(client, paid, "payments", "ord_early")

    store.order_submitted("ord_early", "task-1", 3750, "usd")
    store.order_submitted("ord_early", "task-2", 3750, "usd")  # never replaces a task id

    view = store.order("ord_early")
    assert view is not None
    assert (view.status, view.task_id) == ("paid", "task-1")


def test_a_refused_send_leaves_no_order_view(
    settings: GatewaySettings, auth: dict[str, str]
) -> None:
    client = TestClient(create_app(settings, UnavailableSender()))

    assert client.post("/api/v1/orders", json=valid_order(), headers=auth).status_code == 503
    store = client.app.state.store.get()  # type: ignore[attr-defined]
    with store.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(OrderView)) == 0
