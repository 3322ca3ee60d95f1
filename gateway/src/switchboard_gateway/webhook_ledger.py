"""The inbound webhook ledger, for every provider: list the stored calls, hand one on again.

A stored (verified) call keeps its raw body, so handing it on again rebuilds the provider's
event from that body (`EVENT_BUILDERS`) and publishes it through the gateway's outbox.
Refused calls (signature failed) are listed from their metadata only.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import func, select
from switchboard_shared.contracts import Event
from switchboard_shared.contracts.gateway import StripeEventReceived, TwilioStatusReceived

from switchboard_gateway.models import InboundWebhook, RefusedWebhook
from switchboard_gateway.store import GatewayStore

# provider → stored body → (event, correlation id, subject)
EventBuilder = Callable[[str], tuple[Event, str, str | None]]


def stripe_event(body: str) -> tuple[Event, str, str | None]:
    event = json.loads(body)
    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    order_id = (obj.get("metadata") or {}).get("order_id")
    received = StripeEventReceived(
        stripe_event_id=event["id"],
        stripe_type=event["type"],
        object=obj,
        created=int(event.get("created", 0)),
    )
    return received, order_id or event["id"], order_id


def twilio_event(body: str) -> tuple[Event, str, str | None]:
    form = dict(parse_qsl(body, keep_blank_values=True))
    sid = form["MessageSid"]
    received = TwilioStatusReceived(
        message_sid=sid,
        status=form["MessageStatus"],
        to=form.get("To"),
        error_code=form.get("ErrorCode"),
    )
    return received, sid, sid


EVENT_BUILDERS: dict[str, EventBuilder] = {"stripe": stripe_event, "twilio": twilio_event}


class NotReprocessable(Exception):
    """An invalid call (its signature failed) or a provider with no event builder."""


def inbound_json(row: InboundWebhook, full: bool = False) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "id": row.id,
        "provider": row.provider,
        "event_id": row.event_id,
        "source_address": row.source_address,
        "received_at": row.received_at.isoformat(),
        "valid": row.valid,
        "processed": row.processed,
        "duplicate": row.duplicate,
        "deliveries": row.deliveries,
        "error": row.error,
    }
    if full:
        summary |= {"headers": row.headers, "body": row.body, "traceback": row.traceback}
    return summary


def list_inbound(
    store: GatewayStore, provider: str | None, valid: bool | None, limit: int, offset: int
) -> tuple[Sequence[InboundWebhook], int]:
    query = select(InboundWebhook)
    if provider:
        query = query.where(InboundWebhook.provider == provider)
    if valid is not None:
        query = query.where(InboundWebhook.valid.is_(valid))
    with store.runtime.session_factory() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(InboundWebhook.received_at.desc()).limit(limit).offset(offset)
        ).all()
    return rows, total


def refused_json(row: RefusedWebhook) -> dict[str, Any]:
    return {
        "id": row.id,
        "provider": row.provider,
        "source_address": row.source_address,
        "size": row.size,
        "reason": row.reason,
        "received_at": row.received_at.isoformat(),
    }


def list_refused(
    store: GatewayStore, provider: str | None, limit: int, offset: int
) -> tuple[Sequence[RefusedWebhook], int]:
    query = select(RefusedWebhook)
    if provider:
        query = query.where(RefusedWebhook.provider == provider)
    with store.runtime.session_factory() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(
            query.order_by(RefusedWebhook.id.desc()).limit(limit).offset(offset)
        ).all()
    return rows, total


def get_inbound(store: GatewayStore, webhook_id: str) -> InboundWebhook | None:
    with store.runtime.session_factory() as session:
        return session.get(InboundWebhook, webhook_id)


def reprocess(store: GatewayStore, webhook_id: str) -> InboundWebhook | None:
    """Publish the stored call's event again; its error and traceback are kept when that fails."""
    row = get_inbound(store, webhook_id)
    if row is None:
        return None
    builder = EVENT_BUILDERS.get(row.provider)
    if not row.valid or builder is None:
        raise NotReprocessable(f"webhook {webhook_id} ({row.provider}, valid={row.valid})")
    try:
        event, correlation_id, subject = builder(row.body)
    except Exception as exc:
        return _failed(store, webhook_id, exc)
    with store.uow(correlation_id) as uow:
        stored = uow.session.get(InboundWebhook, webhook_id)
        if stored is None:  # deleted since it was read above
            return None
        stored.processed, stored.error, stored.traceback = True, None, None
        uow.publish(event, subject=subject)
        uow.commit()
    return stored


def _failed(store: GatewayStore, webhook_id: str, exc: Exception) -> InboundWebhook | None:
    with store.runtime.session_factory() as session, session.begin():
        row = session.get(InboundWebhook, webhook_id)
        if row is not None:
            row.processed = False
            row.error = f"{type(exc).__name__}: {exc}"
            row.traceback = "".join(traceback.format_exception(exc))
    return row
