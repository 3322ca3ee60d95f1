"""Outbound webhooks signed per the Standard Webhooks spec, sent with httpx through the guard.

One attempt, one `AttemptResult`: the caller records every outcome, so nothing here raises
for an endpoint's failure. A 3xx is a failure (redirects are never followed: Standard
Webhooks says the sender updates the URL, and following one could lead anywhere).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from switchboard_shared.netguard import AddressPolicy, Resolver, UnsafeDestination, system_resolver

from .pinned_http import GuardedTransport, request_deadline


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
class AttemptResult:
    timestamp: int
    duration_ms: float
    status_code: int | None = None
    error: str | None = None
    body_excerpt: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class SenderLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 15.0
    max_response_bytes: int = 64 * 1024


class WebhookPoster(Protocol):
    def send(self, url: str, secret: str, message_id: str, body: bytes) -> AttemptResult: ...


class WebhookSender:
    """One long-lived guarded client per worker process (connections kept alive per host)."""

    def __init__(
        self,
        limits: SenderLimits,
        policy: AddressPolicy,
        resolver: Resolver = system_resolver,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = limits
        self.clock = clock
        timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
        self.client = httpx.Client(
            transport=GuardedTransport(policy, resolver=resolver),
            timeout=timeout,
            follow_redirects=False,
            headers={"user-agent": "Switchboard-Webhooks/1"},
        )

    def send(self, url: str, secret: str, message_id: str, body: bytes) -> AttemptResult:
        timestamp = int(self.clock())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
        started = time.monotonic()

        def result(**fields: object) -> AttemptResult:
            elapsed = round((time.monotonic() - started) * 1000, 1)
            return AttemptResult(timestamp=timestamp, duration_ms=elapsed, **fields)  # type: ignore[arg-type]

        try:
            with (
                request_deadline(self.limits.deadline),
                self.client.stream("POST", url, content=body, headers=headers) as response,
            ):
                excerpt = self._read_capped(response)
        except (UnsafeDestination, httpx.HTTPError) as exc:
            return result(error=self._failure(exc, time.monotonic() - started))
        status = response.status_code
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            return result(status_code=status, error=f"redirect to {where} not followed")
        if status >= 400:
            return result(status_code=status, error=f"endpoint answered {status}: {excerpt[:200]}")
        return result(status_code=status, body_excerpt=excerpt[:500])

    def _failure(self, exc: Exception, elapsed: float) -> str:
        if isinstance(exc, UnsafeDestination):
            return f"refused: {exc}"
        if isinstance(exc, httpx.TimeoutException):
            if elapsed >= self.limits.deadline - 0.05:
                return f"timed out: the {self.limits.deadline:g}s deadline passed"
            return f"timed out: {type(exc).__name__}: {exc}"
        return f"unreachable: {type(exc).__name__}: {exc}"

    def _read_capped(self, response: httpx.Response) -> str:
        received = bytearray()
        for chunk in response.iter_bytes():
            received.extend(chunk)
            if len(received) >= self.limits.max_response_bytes:
                break
        return received[: self.limits.max_response_bytes].decode("utf-8", "replace")

    def close(self) -> None:
        self.client.close()
