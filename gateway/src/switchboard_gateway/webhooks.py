"""Provider webhooks: verify the signature, record the call, hand it on as an event.

No API key here: the provider's signature is the authentication.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import stripe
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from switchboard_shared.contracts import Event
from twilio.request_validator import RequestValidator

from switchboard_gateway.api.deps import SettingsDep, StoreDep
from switchboard_gateway.models import InboundWebhook
from switchboard_gateway.store import GatewayStore
from switchboard_gateway.webhook_ledger import stripe_event, twilio_event

router = APIRouter(prefix="/webhooks", tags=["provider webhooks"])
STRIPE_TOLERANCE_SECONDS = 300
SAFE_HEADERS = ("content-type", "user-agent", "stripe-signature", "x-twilio-signature")


def _headers(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() in SAFE_HEADERS}


def _ledger_row(request: Request, provider: str, body: bytes, **fields: Any) -> InboundWebhook:
    return InboundWebhook(
        id=str(uuid.uuid4()),
        provider=provider,
        headers=_headers(request),
        body=body.decode("utf-8", "replace"),
        source_address=request.client.host if request.client else None,
        **fields,
    )


def _record_invalid(store: GatewayStore, row: InboundWebhook) -> None:
    with store.runtime.session_factory() as session, session.begin():
        session.add(row)


def _refuse_future_timestamp(signature: str) -> None:
    """The SDK only refuses old timestamps; one far in the future is as suspect (replays)."""
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit() and int(value) > time.time() + STRIPE_TOLERANCE_SECONDS:
            raise ValueError("Stripe-Signature timestamp is in the future")


@router.post("/stripe", summary="Stripe events (signed with STRIPE_WEBHOOK_SECRET)")
async def stripe_webhook(
    request: Request, settings: SettingsDep, store: StoreDep
) -> dict[str, Any]:
    body = await request.body()
    signature = request.headers.get("stripe-signature", "")
    try:
        _refuse_future_timestamp(signature)
        stripe.Webhook.construct_event(
            body, signature, settings.stripe_webhook_secret, tolerance=STRIPE_TOLERANCE_SECONDS
        )
        event = json.loads(body)
    except (ValueError, stripe.SignatureVerificationError) as exc:
        row = _ledger_row(request, "stripe", body, valid=False, error=str(exc))
        await run_in_threadpool(_record_invalid, store, row)
        raise HTTPException(400, detail=f"Invalid Stripe webhook: {exc}") from exc

    received, correlation_id, subject = stripe_event(body.decode("utf-8", "replace"))
    # The database write and the publish block: off the event loop, as a sync route would be.
    duplicate = await run_in_threadpool(
        record_verified,
        store,
        request,
        "stripe",
        body,
        event["id"],
        received,
        correlation_id,
        subject,
    )
    return {"received": True, "duplicate": duplicate}


def record_verified(
    store: GatewayStore,
    request: Request,
    provider: str,
    body: bytes,
    event_id: str,
    event: Event,
    correlation_id: str,
    subject: str | None = None,
) -> bool:
    """Ledger the verified call and publish `event` in one transaction, unless this provider
    event id was processed before (then it is ledgered as a duplicate only). True: duplicate."""
    with store.uow(correlation_id) as uow:
        seen = uow.session.scalar(
            select(InboundWebhook.id)
            .where(
                InboundWebhook.provider == provider,
                InboundWebhook.event_id == event_id,
                InboundWebhook.processed.is_(True),
            )
            .limit(1)
        )
        uow.session.add(
            _ledger_row(
                request,
                provider,
                body,
                event_id=event_id,
                valid=True,
                duplicate=seen is not None,
                processed=seen is None,
            )
        )
        if seen is None:
            uow.publish(event, subject=subject)
        uow.commit()
    return seen is not None


@router.post("/twilio/status", summary="Twilio message status callbacks (X-Twilio-Signature)")
async def twilio_status(request: Request, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    body = await request.body()
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    # Twilio signs the URL it called: ours as the public sees it, not as the proxy forwards it.
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += f"?{request.url.query}"
    signature = request.headers.get("x-twilio-signature", "")
    if not RequestValidator(settings.twilio_auth_token).validate(url, form, signature):
        error = "X-Twilio-Signature does not match"
        row = _ledger_row(request, "twilio", body, valid=False, error=error)
        await run_in_threadpool(_record_invalid, store, row)
        raise HTTPException(403, detail=f"Invalid Twilio callback: {error}")
    sid, status = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or not status:
        raise HTTPException(400, detail="MessageSid and MessageStatus are required")
    received, correlation_id, subject = twilio_event(body.decode("utf-8", "replace"))
    duplicate = await run_in_threadpool(
        record_verified,
        store,
        request,
        "twilio",
        body,
        f"{sid}:{status}",
        received,
        correlation_id,
        subject,
    )
    return {"received": True, "duplicate": duplicate}
