"""Helpers for payments' tests: events, envelopes and a harness around one payments service."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from switchboard_payments.bootstrap import bootstrap
from switchboard_payments.config import PaymentsSettings
from switchboard_payments.models import Invoice, Payment
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Envelope, Event
from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.contracts.orders import OrderCancelled, OrderCreated
from switchboard_shared.envelopes import wrap
from switchboard_shared.testing import InProcessBus, InProcessService, sample_order_created
from switchboard_shared.testsupport import provider_secrets

DECLINE = "pm_card_chargeCustomerFail"
SLOW = "pm_card_processing"
TRANSIENT_DECLINE = "pm_card_processing_error"
# The secret key localstripe is driven with: fresh per test run, never a default.
API_KEY = provider_secrets()["PAYMENTS_STRIPE_API_KEY"]


def order_created(
    order_id: str = "ord_1", *, method: str = "pm_card_visa", amount: int = 2500
) -> OrderCreated:
    return sample_order_created(
        order_id,
        category="flowers",
        region="eu",
        amount=amount,
        currency="eur",
        payment_method=method,
    )


def envelope(event: Event, producer: str = "orders") -> Envelope:
    order_id = getattr(event, "order_id", "flow")
    return wrap(event, service=producer, context=MessageContext.new(order_id))


def stripe_event(
    stripe_type: str, intent_id: str, order_id: str, *, event_id: str | None = None, **fields: Any
) -> StripeEventReceived:
    if stripe_type.startswith("charge."):
        obj: dict[str, Any] = {"id": f"ch_{intent_id}", "payment_intent": intent_id, **fields}
    else:
        obj = {"id": intent_id, "amount": 2500, "currency": "eur", **fields}
        obj["metadata"] = {"order_id": order_id}
    return StripeEventReceived(
        stripe_event_id=event_id or f"evt_{uuid.uuid4().hex[:12]}",
        stripe_type=stripe_type,
        object=obj,
        created=1_800_000_000,
    )


@dataclass
class Harness:
    """One payments service on a real database, behind the in-process bus."""

    service: InProcessService
    bus: InProcessBus
    db: sessionmaker[Session]

    @classmethod
    def build(cls, db: sessionmaker[Session], provider: Any, **settings: Any) -> Harness:
        settings.setdefault("stripe_api_key", API_KEY)
        registry = bootstrap(PaymentsSettings(**settings), provider)
        service = InProcessService("payments", registry, session_factory=db)
        return cls(service, InProcessBus(service), db)

    def deliver(self, env: Envelope) -> None:
        self.bus.deliver(env)
        self.bus.run()

    def order(self, event: OrderCreated) -> Envelope:
        env = envelope(event)
        self.deliver(env)
        return env

    def cancel(self, order_id: str, was_paid: bool = True) -> None:
        self.deliver(envelope(OrderCancelled(order_id=order_id, was_paid=was_paid)))

    def webhook(self, event: StripeEventReceived) -> None:
        self.deliver(envelope(event, producer="gateway"))

    def payment(self, order_id: str = "ord_1") -> Payment:
        with self.db() as session:
            found = session.scalar(select(Payment).where(Payment.order_id == order_id))
            assert found is not None, f"no payment for {order_id}"
            return found

    def invoices(self) -> list[Invoice]:
        with self.db() as session:
            return list(session.scalars(select(Invoice).order_by(Invoice.sequence)))

    def published(self, event_type: str | None = None) -> list[Envelope]:
        """What payments published (events it received are not counted)."""
        mine = [e for e in self.bus.log if e.source == "/switchboard/payments"]
        return [e for e in mine if event_type is None or e.type == event_type]

    def types(self) -> list[str]:
        return [e.type for e in self.published()]
