from typing import Any

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import RecordingSender, valid_order
from switchboard_gateway.api.orders import CreateOrderRequest
from switchboard_shared.contracts.orders import CreateOrder


def details_by_field(response_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    assert response_json["error"]["code"] == "validation_error"
    return {detail["field"]: detail for detail in response_json["error"]["details"]}


def test_malformed_json_is_422_saying_json(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    response = client.post(
        "/api/v1/orders",
        content=b'{"customer": {"email": "ada@example.com"},\n "items": [}',
        headers={**auth, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "body"
    assert detail["type"] == "json_invalid"
    assert "not valid JSON" in detail["message"]
    assert "line 2" in detail["message"]
    assert sender.sent == []


def test_wrong_types_are_422_naming_each_field(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    order = valid_order()
    order["items"][0]["quantity"] = "abc"
    order["customer"]["email"] = "not-an-email"
    order["currency"] = "USDX"

    response = client.post("/api/v1/orders", json=order, headers=auth)

    assert response.status_code == 422
    fields = details_by_field(response.json())
    assert set(fields) == {"items[0].quantity", "customer.email", "currency"}
    assert fields["items[0].quantity"]["type"] == "int_parsing"
    for name in fields:
        assert name in response.json()["error"]["message"]
    assert sender.sent == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda order: order.pop("customer"), "customer"),
        (lambda order: order.update(items=[]), "items"),
        (lambda order: order["items"][0].update(quantity=0), "items[0].quantity"),
        (lambda order: order["customer"].update(phone="555"), "customer.phone"),
        (lambda order: order.update(surprise=True), "surprise"),
    ],
)
def test_each_bad_field_is_named(
    client: TestClient, auth: dict[str, str], change: Any, field: str
) -> None:
    order = valid_order()
    change(order)

    response = client.post("/api/v1/orders", json=order, headers=auth)

    assert response.status_code == 422
    assert field in details_by_field(response.json())


def test_request_model_matches_the_contract() -> None:
    contract = {name: info for name, info in CreateOrder.model_fields.items() if name != "order_id"}
    request = CreateOrderRequest.model_fields

    assert set(request) == set(contract)
    for name, info in request.items():
        assert info.annotation == contract[name].annotation, name
        assert repr(info.metadata) == repr(contract[name].metadata), name
        assert info.default == contract[name].default, name


def test_form_encoded_body_is_422_asking_for_json(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/orders",
        content=b"customer=ada",
        headers={**auth, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "body"
    assert "application/json" in detail["message"]
