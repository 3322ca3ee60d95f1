"""Provider webhooks: verify the signature, record the call, hand it on as an event.

No API key here: the provider's signature is the authentication. A call whose signature
fails is kept as metadata only (size, source, reason, time) in a bounded table; a verified
one is stored whole, once per provider event id. Both are rate-limited per source address
and run on threads of their own (see `webhook_guard`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import stripe
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import delete, update
from switchboard_shared.contracts import Event
from switchboard_shared.db import insert_new
from twilio.request_validator import RequestValidator

from switchboard_gateway.api.deps import SettingsDep, StoreDep
from switchboard_gateway.models import InboundWebhook, RefusedWebhook
from switchboard_gateway.store import GatewayStore
from switchboard_gateway.webhook_guard import REFUSED, VERIFIED, guard_of, source_of
from switchboard_gateway.webhook_ledger import stripe_event, twilio_event

router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])
STRIPE_TOLERANCE_SECONDS = 300
SAFE_HEADERS = ("content-type", "user-agent", "stripe-signature", "x-twilio-signature")
REASON_CHARS = 300


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() in SAFE_HEADERS}


def record_refused(store: GatewayStore, row: RefusedWebhook, keep: int) -> None:
    """One metadata row; the oldest beyond the newest `keep` go in the same transaction (a
    delete on the primary key: its cost does not grow with the table)."""
    with store.runtime.session_factory() as session, session.begin():
        session.add(row)
        session.flush()  # assigns the row's id: ids only grow
        session.execute(delete(RefusedWebhook).where(RefusedWebhook.id <= row.id - keep))


async def refuse(
    request: Request, store: GatewayStore, provider: str, size: int, reason: str
) -> None:
    """Rate-limit, then record, a call whose signature failed (never its body or headers)."""
    guard, source = guard_of(request), source_of(request)
    row = RefusedWebhook(
        provider=provider, source_address=source, size=size, reason=reason[:REASON_CHARS]
    )
    keep = request.app.state.settings.webhook_invalid_keep

    def limited_record() -> None:
        guard.admit(REFUSED, source)
        record_refused(store, row, keep)

    await guard.run(limited_record)


def _refuse_future_timestamp(signature: str) -> None:
    """The SDK only refuses old timestamps; one far in the future is as suspect (replays)."""
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and int(value) > time.time() + STRIPE_TOLERANCE_SECONDS:
            raise ValueError("Stripe-Signature timestamp is in the future")


def _verify_stripe(body: bytes, signature: str, secret: str) -> dict[str, Any]:
    _refuse_future_timestamp(signature)
    stripe.Webhook.construct_event(body, signature, secret, tolerance=STRIPE_TOLERANCE_SECONDS)
    event: dict[str, Any] = json.loads(body)
    return event


@router.post("/stripe", summary="Stripe events (signed with STRIPE_WEBHOOK_SECRET)")
async def stripe_webhook(
    request: Request, settings: SettingsDep, store: StoreDep
) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        event = _verify_stripe(body, signature, settings.stripe_webhook_secret)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        await refuse(request, store, "stripe", len(body), str(exc))
        raise HTTPException(400, detail=f"Invalid Stripe webhook: {exc}") from exc
    received, correlation_id, subject = stripe_event(body.decode("utf-8", "replace"))
    row = verified_row(request, "stripe", body, str(event["id"]))
    duplicate = await record(request, store, row, received, correlation_id, subject)
    return {"received": True, "duplicate": duplicate}


def verified_row(request: Request, provider: str, body: bytes, event_id: str) -> InboundWebhook:
    return InboundWebhook(
        id=str(uuid.uuid4()),
        provider=provider,
        event_id=event_id,
        headers=_headers(request),
        body=body.decode("utf-8", "replace"),
        source_address=source_of(request),
        valid=True,
        processed=True,
        duplicate=False,
        deliveries=1,
    )


async def record(
    request: Request,
    store: GatewayStore,
    row: InboundWebhook,
    event: Event,
    correlation_id: str,
    subject: str | None,
) -> bool:
    """Rate-limit, then ledger and publish, a verified call; True for a repeated event."""
    guard, source = guard_of(request), source_of(request)

    def limited_record() -> bool:
        guard.admit(VERIFIED, source)
        return record_verified(store, row, event, correlation_id, subject)

    return await guard.run(limited_record)


def record_verified(
    store: GatewayStore,
    row: InboundWebhook,
    event: Event,
    correlation_id: str,
    subject: str | None = None,
) -> bool:
    """Ledger the verified call and publish `event` in one transaction, unless this provider
    event id is already there: then it only counts as one more delivery. Insert-or-skip on
    the unique `(provider, event_id)`, so concurrent deliveries cannot both pass a check.
    True: a duplicate."""
    with store.uow(correlation_id) as uow:
        first = insert_new(uow.session, row)
        if first:
            uow.publish(event, subject=subject)
        else:
            uow.session.execute(
                update(InboundWebhook)
                .where(InboundWebhook.provider == row.provider)
                .where(InboundWebhook.event_id == row.event_id)
                .values(deliveries=InboundWebhook.deliveries + 1)
            )
        uow.commit()
    return not first


def _twilio_url(request: Request, public_url: str) -> str:
    """Twilio signs the URL it called: ours as the public sees it, not as the proxy forwards it."""
    url = public_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


@router.post("/twilio/status", summary="Twilio message status callbacks (X-Twilio-Signature)")
async def twilio_status(request: Request, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    signature = request.headers.get("x-twilio-signature", "")
    url = _twilio_url(request, settings.public_url)
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        error = "X-Twilio-Signature does not match"
        await refuse(request, store, "twilio", len(body), error)
        raise HTTPException(403, detail=f"Invalid Twilio callback: {error}")
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not status:
        raise HTTPException(400, detail="MessageSid and MessageStatus are required")
    received, correlation_id, subject = twilio_event(body.decode("utf-8", "replace"))
    row = verified_row(request, "twilio", body, f"{sid}:{status}")
    duplicate = await record(request, store, row, received, correlation_id, subject)
    return {"received": True, "duplicate": duplicate}
