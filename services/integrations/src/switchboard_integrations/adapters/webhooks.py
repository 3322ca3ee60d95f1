"""Outbound webhooks signed per the Standard Webhooks spec, sent with httpx."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from switchboard_shared.failures import ClassifiedError, FailureClass, ProviderError


def secret_bytes(secret: str) -> bytes:
    """`whsec_<base64>` secrets are base64; anything else is used as its UTF-8 bytes."""
    return (
        base64.b64decode(secret.removeprefix("whsec_"))
        if secret.startswith("whsec_")
        else secret.encode()
    )


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


@dataclass(frozen=True)
class DeliveryResult:
    status_code: int
    body_excerpt: str


class WebhookSender:
    def __init__(self, timeout: float, max_response_bytes: int) -> None:
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes

    def send(
        self, url: str, secret: str, message_id: str, payload: dict[str, Any]
    ) -> DeliveryResult:
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
        try:
            with (
                httpx.Client(timeout=self.timeout, follow_redirects=False) as client,
                client.stream("POST", url, content=body, headers=headers) as response,
            ):
                excerpt = self._read_capped(response)
        except httpx.TimeoutException as exc:
            raise ClassifiedError(
                f"webhook timed out: {exc}", failure_class=FailureClass.TIMEOUT
            ) from exc
        except httpx.TransportError as exc:
            raise ClassifiedError(
                f"webhook unreachable: {exc}", failure_class=FailureClass.NETWORK
            ) from exc
        if not 200 <= response.status_code < 300:  # 3xx too: Standard Webhooks says update the URL
            retry_after = response.headers.get("retry-after")
            raise ProviderError(
                f"endpoint answered {response.status_code}: {excerpt[:200]}",
                status=response.status_code,
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        return DeliveryResult(response.status_code, excerpt[:500])

    def _read_capped(self, response: httpx.Response) -> str:
        received = bytearray()
        for chunk in response.iter_bytes():
            received.extend(chunk)
            if len(received) >= self.max_response_bytes:
                break
        return received[: self.max_response_bytes].decode("utf-8", "replace")
