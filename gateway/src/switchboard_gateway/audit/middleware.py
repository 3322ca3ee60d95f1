"""Records each admin action as its response starts, whatever the outcome.

A route is audited when its `openapi_extra` names an action (`audited("queue.purge")`), so
the OpenAPI document says which routes leave a trace. Calls without a valid API key are not
recorded: the table must not be a way for strangers to fill the disk.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_gateway.audit.models import AuditEntry

log = logging.getLogger("switchboard.gateway.audit")
ACTION_KEY = "x-audited-action"
AuditSink = Callable[[AuditEntry], None]


def audited(action: str) -> dict[str, Any]:
    """The `openapi_extra` of a route whose calls go to the audit log."""
    return {ACTION_KEY: action}


def outcome_of(status: int) -> str:
    if status < 400:
        return "succeeded"
    if status in (401, 403, 429):
        return "refused"
    return "not_found" if status == 404 else "failed"


def _action(scope: Scope) -> str | None:
    extra = getattr(scope.get("route"), "openapi_extra", None) or {}
    action = extra.get(ACTION_KEY)
    return action if isinstance(action, str) else None


class AuditMiddleware:
    def __init__(self, app: ASGIApp, sink: Callable[[], AuditSink]) -> None:
        self.app, self.sink = app, sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            entry = _entry(scope, status)
            if entry is not None:
                await self._record(entry)

    async def _record(self, entry: AuditEntry) -> None:
        try:
            await anyio.to_thread.run_sync(self.sink(), entry)
        except Exception:
            # The action already happened: losing its trace is logged loudly, never hidden.
            log.exception(
                "audit entry not written: %s %s",
                entry.action,
                entry.target,
                extra={"correlation_id": entry.correlation_id},
            )


def _entry(scope: Scope, status: int) -> AuditEntry | None:
    action, state = _action(scope), scope.get("state") or {}
    key_id = state.get("api_key_id")
    if action is None or key_id is None:
        return None
    return AuditEntry(
        id=str(uuid.uuid4()),
        key_id=key_id,
        role=str(state.get("api_role", "")),
        action=action,
        method=scope["method"],
        target=scope["path"][:500],
        outcome=outcome_of(status),
        status=status,
        correlation_id=state.get("correlation_id"),
    )
