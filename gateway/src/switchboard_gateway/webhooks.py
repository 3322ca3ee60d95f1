"""Provider webhooks: verify the signature, record the call, hand it on as an event.

No API key here: the provider's signature is the authentication.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import stripe
from fastapi import APIRouter, HTTPException, Request
from sqlalchemy import select
from switchboard_shared.contracts.gateway import StripeEventReceived

from switchboard_gateway.api.deps import SettingsDep, StoreDep
from switchboard_gateway.models import InboundWebhook
from switchboard_gateway.store import GatewayStore

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
        _record_invalid(store, _ledger_row(request, "stripe", body, valid=False, error=str(exc)))
        raise HTTPException(400, detail=f"Invalid Stripe webhook: {exc}") from exc

    obj: dict[str, Any] = event.get("data", {}).get("object", {})
    order_id = (obj.get("metadata") or {}).get("order_id")
    with store.uow(order_id or event["id"]) as uow:
        seen = uow.session.scalar(
            select(InboundWebhook.id)
            .where(
                InboundWebhook.provider == "stripe",
                InboundWebhook.event_id == event["id"],
                InboundWebhook.processed.is_(True),
            )
            .limit(1)
        )
        uow.session.add(
            _ledger_row(
                request,
                "stripe",
                body,
                event_id=event["id"],
                valid=True,
                duplicate=seen is not None,
                processed=seen is None,
            )
        )
        if seen is None:
            uow.publish(
                StripeEventReceived(
                    stripe_event_id=event["id"],
                    stripe_type=event["type"],
                    object=obj,
                    created=int(event.get("created", 0)),
                ),
                subject=order_id,
            )
        uow.commit()
    return {"received": True, "duplicate": seen is not None}
