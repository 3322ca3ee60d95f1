from collections.abc import Iterator, Sequence

import pytest
from fastapi.testclient import TestClient
from gateway_fakes import RecordingSender
from starlette.types import Message, Receive, Scope, Send
from switchboard_gateway.body_limit import BodyLimitMiddleware, PayloadTooLarge

TWO_MIB = 2 * 1024 * 1024


def assert_too_large(response_json: dict[str, dict[str, str]]) -> None:
    assert response_json["error"]["code"] == "payload_too_large"


def test_body_over_limit_with_content_length_is_413(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    response = client.post(
        "/api/v1/orders",
        content=b"x" * TWO_MIB,
        headers={**auth, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert_too_large(response.json())
    assert sender.sent == []


def test_streamed_body_over_limit_is_413(
    client: TestClient, auth: dict[str, str], sender: RecordingSender
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(32):
            yield b" " * (64 * 1024)

    response = client.post(
        "/api/v1/orders", content=chunks(), headers={**auth, "Content-Type": "application/json"}
    )

    assert response.status_code == 413
    assert_too_large(response.json())
    assert sender.sent == []


def test_body_limit_applies_before_auth(client: TestClient) -> None:
    response = client.post("/api/v1/orders", content=b"x" * TWO_MIB)

    assert response.status_code == 413


async def _echo_body_app(scope: Scope, receive: Receive, send: Send) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def _run(messages: Sequence[Message]) -> tuple[list[Message], int]:
    """Feed `messages` through the middleware; return what it sent and how many it pulled."""
    pulled = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal pulled
        pulled += 1
        return messages[pulled - 1]

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    await BodyLimitMiddleware(_echo_body_app, max_body_bytes=100)(scope, receive, send)
    return sent, pulled


@pytest.mark.anyio
async def test_streamed_body_stops_reading_at_the_limit() -> None:
    chunks: list[Message] = [{"type": "http.request", "body": b"x" * 40, "more_body": True}] * 50

    sent, pulled = await _run(chunks)

    assert pulled == 3  # 120 bytes > 100: nothing more is read
    assert sent[0]["status"] == 413
    assert b"payload_too_large" in sent[1]["body"]


@pytest.mark.anyio
async def test_body_at_the_limit_passes() -> None:
    chunks: list[Message] = [
        {"type": "http.request", "body": b"x" * 60, "more_body": True},
        {"type": "http.request", "body": b"x" * 40, "more_body": False},
    ]

    sent, _ = await _run(chunks)

    assert sent[0]["status"] == 200
    assert sent[1]["body"] == b"100"


def test_payload_too_large_is_an_http_exception() -> None:
    # FastAPI re-raises HTTPExceptions from body reading instead of turning them into 400.
    assert PayloadTooLarge(10).status_code == 413
