import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import API_KEY, OTHER_KEY, WEBHOOK_SECRETS, RecordingSender, valid_order
from switchboard_gateway.auth import key_is_valid
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.main import create_app


def assert_unauthorized(response_json: dict[str, Any], headers: dict[str, str]) -> None:
    assert response_json["error"]["code"] == "unauthorized"
    assert response_json["error"]["details"] == []
    assert headers["www-authenticate"] == "Bearer"


def test_missing_key_is_401(client: TestClient) -> None:
    response = client.post("/api/v1/orders", json=valid_order())

    assert response.status_code == 401
    assert_unauthorized(response.json(), dict(response.headers))


def test_wrong_key_is_401(client: TestClient) -> None:
    response = client.post(
        "/api/v1/orders", json=valid_order(), headers={"Authorization": "Bearer nope"}
    )

    assert response.status_code == 401
    assert_unauthorized(response.json(), dict(response.headers))


@pytest.mark.parametrize("header", [f"Basic {API_KEY}", API_KEY, "Bearer ", "Bearer"])
def test_malformed_authorization_is_401(client: TestClient, header: str) -> None:
    response = client.post("/api/v1/orders", json=valid_order(), headers={"Authorization": header})

    assert response.status_code == 401


def test_non_ascii_key_is_401_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/orders",
        json=valid_order(),
        headers={"Authorization": "Bearer clé".encode()},
    )

    assert response.status_code == 401


def test_missing_key_is_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/api/v1/orders", content=b"{not json")

    assert response.status_code == 401


@pytest.mark.parametrize("key", [API_KEY, OTHER_KEY])
def test_correct_key_passes(client: TestClient, key: str) -> None:
    response = client.post(
        "/api/v1/orders", json=valid_order(), headers={"Authorization": f"Bearer {key}"}
    )

    assert response.status_code == 202


def test_no_keys_configured_refuses_everyone(sender: RecordingSender) -> None:
    client = TestClient(create_app(GatewaySettings(api_keys="", **WEBHOOK_SECRETS), sender))
    response = client.post(
        "/api/v1/orders", json=valid_order(), headers={"Authorization": "Bearer "}
    )

    assert response.status_code == 401


def test_api_keys_parse_from_comma_separated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_KEYS", "dev-key")
    assert GatewaySettings(**WEBHOOK_SECRETS).api_keys == ["dev-key"]

    monkeypatch.setenv("SWITCHBOARD_API_KEYS", " a , b,,")
    assert GatewaySettings(**WEBHOOK_SECRETS).api_keys == ["a", "b"]


def test_key_comparison_checks_every_key() -> None:
    assert key_is_valid("b", ["a", "b"])
    assert not key_is_valid("c", ["a", "b"])
    assert not key_is_valid("", [])


def test_keys_never_reach_the_log(
    client: TestClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    client.post("/api/v1/orders", json=valid_order(), headers=auth)
    client.post("/api/v1/orders", json=valid_order(), headers={"Authorization": "Bearer leaked?"})

    logged = caplog.text + " ".join(str(vars(record)) for record in caplog.records)
    assert API_KEY not in logged
    assert "leaked?" not in logged
