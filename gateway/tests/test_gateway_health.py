from fastapi.testclient import TestClient


def test_health_needs_no_key(client: TestClient) -> None:
    response = client.get("/api/v1/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_unknown_path_is_404_in_error_shape(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": []}
    }


def test_wrong_method_is_405_in_error_shape(client: TestClient) -> None:
    response = client.delete("/api/v1/health")

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_gateway_and_order_example(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    assert spec["info"]["title"] == "Switchboard gateway"
    assert spec["info"]["version"]
    order_schema = spec["components"]["schemas"]["CreateOrderRequest"]
    assert order_schema["examples"][0]["currency"] == "usd"
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "security" not in spec["paths"]["/api/v1/health"]["get"]
    assert spec["paths"]["/api/v1/orders"]["post"]["security"] == [{"HTTPBearer": []}]


def test_importing_main_needs_no_environment() -> None:
    """Only `main.app` (what uvicorn loads) reads the environment, and it needs the secrets."""
    import switchboard_gateway.main as main

    assert callable(main.create_app)
