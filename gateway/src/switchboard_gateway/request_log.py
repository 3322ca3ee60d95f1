"""Access log with a correlation id per request; headers (and so API keys) are never logged.

A caller's `X-Correlation-Id` is a trace attribute only: it is logged and echoed, never put on
the work the request starts. That work's correlation id (`flow_id`) is the gateway's own, so a
caller cannot attach events to another flow, such as another order's timeline.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_gateway.errors import CORRELATION_HEADER

logger = logging.getLogger("switchboard.gateway")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def correlation_id_from(scope: Scope) -> str | None:
    """The caller's `X-Correlation-Id` when it is a sane token (bounded, safe characters)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-correlation-id":
            candidate = value.decode("latin-1").strip()
            if _SAFE_ID.match(candidate):
                return candidate
    return None


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        flow_id = uuid.uuid4().hex
        correlation_id = correlation_id_from(scope) or flow_id
        scope.setdefault("state", {}).update(correlation_id=correlation_id, flow_id=flow_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            logger.info(
                "%s %s %s %.2fms",
                scope["method"],
                scope["path"],
                status,
                duration_ms,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": duration_ms,
                    "correlation_id": correlation_id,
                    "flow_id": flow_id,
                    "client": _client(scope),
                },
            )
