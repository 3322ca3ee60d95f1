from fastapi.testclient import TestClient
from gateway_fakes import ExplodingSender, RecordingSender, UnavailableSender, valid_order
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app
from switchboard_shared.contracts.orders import CreateOrder


def test_valid_order_is_accepted_and_sent_as_create_order(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    response = client.post("/api/v1/orders", json=valid_order(), headers=auth)

    assert response.status_code == 202
    body = response.json()
    [sent] = sender.sent
    assert body == {
        "order_id": sent.command.order_id,
        "task_id": sent.task_id,
        "status_url": f"/api/v1/tasks/{sent.task_id}",
    }
    assert body["order_id"].startswith("ord_")
    command = sent.command
    assert isinstance(command, CreateOrder)
    assert command.task_name == "orders.create"
    assert command.queue == "orders.critical"
    assert command.model_dump(mode="json", exclude={"order_id"}) == valid_order()


def test_each_order_gets_its_own_id(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    first = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()
    second = client.post("/api/v1/orders", json=valid_order(), headers=auth).json()

    assert first["order_id"] != second["order_id"]
    assert len(sender.sent) == 2


def test_payment_method_defaults_like_the_contract(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    order = valid_order()
    del order["payment_method"], order["customer"]["phone"]

    assert client.post("/api/v1/orders", json=order, headers=auth).status_code == 202
    command = sender.sent[0].command
    assert isinstance(command, CreateOrder)
    assert command.payment_method == "pm_card_visa"
    assert command.customer.phone is None


def test_request_id_is_echoed_and_the_order_id_correlates_the_flow(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    response = client.post(
        "/api/v1/orders", json=valid_order(), headers={**auth, "X-Correlation-Id": "req-42"}
    )

    assert response.headers["x-correlation-id"] == "req-42"
    assert sender.sent[0].correlation_id == response.json()["order_id"]


def test_correlation_id_is_generated_when_absent_or_unsafe(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    plain = client.post("/api/v1/orders", json=valid_order(), headers=auth)
    unsafe = client.post(
        "/api/v1/orders", json=valid_order(), headers={**auth, "X-Correlation-Id": "a b\tc"}
    )

    assert len(plain.headers["x-correlation-id"]) == 32
    assert unsafe.headers["x-correlation-id"] != "a b\tc"


def test_broker_down_is_503(settings: GatewaySettings, auth: dict[str, str]) -> None:
    client = TestClient(create_app(settings, UnavailableSender()))

    response = client.post("/api/v1/orders", json=valid_order(), headers=auth)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"


def test_unexpected_failure_is_500_without_internals(
    settings: GatewaySettings, auth: dict[str, str]
) -> None:
    client = TestClient(create_app(settings, ExplodingSender()), raise_server_exceptions=False)

    response = client.post(
        "/api/v1/orders", json=valid_order(), headers={**auth, "X-Correlation-Id": "boom-1"}
    )

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "Internal server error", "details": []}
    }
    assert "hunter2" not in response.text
    assert response.headers["x-correlation-id"] == "boom-1"
