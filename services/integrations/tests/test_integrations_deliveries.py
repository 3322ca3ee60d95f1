"""Deliveries handled in-process: SQLite, a real HTTP receiver, a recording dispatcher."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest
from integrations_receivers import Receiver
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook
from switchboard_integrations.adapters.dispatch import RecordingDispatcher
from switchboard_integrations.adapters.webhooks import SenderLimits, WebhookSender
from switchboard_integrations.bootstrap import bootstrap
from switchboard_integrations.config import IntegrationsSettings
from switchboard_integrations.handlers import deliver_once
from switchboard_integrations.models import WebhookEndpoint, WebhookMessage
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts import Command, Envelope
from switchboard_shared.contracts.integrations import (
    DeliverWebhook,
    DispatchDueWebhooks,
    ListWebhookDeliveries,
    RegisterWebhookEndpoint,
    ReplayWebhookDelivery,
)
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.envelopes import wrap
from switchboard_shared.messagebus import HandlerRegistry, handle_command, handle_event
from switchboard_shared.netguard import AddressPolicy
from switchboard_shared.records import OutboxMessage
from switchboard_shared.testsupport import provider_secrets
from switchboard_shared.uow import SqlAlchemyUnitOfWork

pytestmark = pytest.mark.integration
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
_ids = itertools.count(1)
TOKEN = provider_secrets()["TWILIO_AUTH_TOKEN"]


class Harness:
    def __init__(self, db: sessionmaker[Session], receiver: Receiver, **settings: Any) -> None:
        self.db = db
        self.receiver = receiver
        self.settings = IntegrationsSettings(twilio_auth_token=TOKEN, **settings)
        self.dispatcher = RecordingDispatcher()
        self.clock = itertools.count(int(time.time()))  # each attempt one second later
        sender = WebhookSender(
            SenderLimits(read_timeout=1), AddressPolicy(True), clock=lambda: next(self.clock)
        )
        self.registry: HandlerRegistry = bootstrap(
            self.settings, dispatcher=self.dispatcher, webhooks=sender
        )

    def uow(self, context: MessageContext | None = None) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(
            self.db, service="integrations", context=context or MessageContext.new("test")
        )

    def command(self, command: Command) -> Any:
        task_id = f"task-{next(_ids)}"
        return handle_command(
            command.task_name,
            command.model_dump(),
            task_id,
            MessageContext.new("test", task_id),
            self.registry,
            self.uow,
        )

    def endpoint(self, path: str, events: tuple[str, ...] = ("order-matched",)) -> str:
        endpoint_id = f"ep_{next(_ids):08d}"
        self.command(
            RegisterWebhookEndpoint(
                endpoint_id=endpoint_id,
                url=self.receiver.url(path),
                events=list(events),
                secret=SECRET,
            )
        )
        return endpoint_id

    def publish_order_matched(self, order_id: str = "ord_1") -> list[str]:
        event = OrderMatched(
            order_id=order_id,
            supplier_id="sup_1",
            customer_email="ada@example.com",
            amount=100,
            currency="usd",
        )
        self.last = wrap(event, service="orders", context=MessageContext.new(order_id))
        return self.deliver_event(self.last)

    def deliver_event(self, envelope: Envelope) -> list[str]:
        before = len(self.dispatcher.sent)
        handle_event(envelope, self.registry, self.uow)
        return self.dispatcher.sent[before:]

    def attempt(self, delivery_id: str) -> Any:
        with self.uow() as uow:
            return self.registry.call(deliver_once, DeliverWebhook(delivery_id=delivery_id), uow)

    def events(self, event_type: str) -> list[dict[str, Any]]:
        with self.db() as session:
            rows = session.scalars(
                select(OutboxMessage).where(OutboxMessage.event_type == event_type)
            ).all()
            return [row.envelope["data"] for row in rows]

    def message(self, delivery_id: str) -> WebhookMessage:
        with self.db() as session:
            found = session.get(WebhookMessage, delivery_id)
            assert found is not None
            return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(SECRET, flaky_failures=2).start()
    yield server
    server.stop()


@pytest.fixture
def harness(db: sessionmaker[Session], receiver: Receiver) -> Harness:
    return Harness(db, receiver, webhook_retry_schedule=[0, 5, 300])


def test_an_event_fans_out_to_each_subscribed_endpoint_once(harness: Harness) -> None:
    first = harness.endpoint("/verify")
    second = harness.endpoint("/ok", events=("order-matched", "payment-failed"))
    harness.endpoint("/ok", events=("payment-failed",))
    sent = harness.publish_order_matched()
    assert len(sent) == 2
    assert {harness.message(i).endpoint_id for i in sent} == {first, second}
    assert harness.deliver_event(harness.last) == []  # the same event again: nothing new


def test_a_delivery_is_signed_recorded_and_announced(harness: Harness) -> None:
    harness.endpoint("/verify")
    [delivery_id] = harness.publish_order_matched()
    assert harness.attempt(delivery_id).status == "delivered"
    [request] = harness.receiver.at("/verify")
    assert request.verified and request.headers["webhook-id"] == delivery_id
    payload = Webhook(SECRET).verify(request.body, request.headers)
    assert payload["type"] == "order-matched" and payload["data"]["order_id"] == "ord_1"
    [delivered] = harness.events("webhook-delivered")
    assert (delivered["delivery_id"], delivered["status_code"], delivered["attempts"]) == (
        delivery_id,
        204,
        1,
    )
    assert harness.attempt(delivery_id).status == "skipped"  # a duplicate task posts nothing
    assert len(harness.receiver.at("/verify")) == 1


def test_every_retry_carries_the_same_id_with_a_fresh_timestamp_and_signature(
    harness: Harness,
) -> None:
    harness.endpoint("/flaky")
    [delivery_id] = harness.publish_order_matched()
    first = harness.attempt(delivery_id)
    assert (first.status, first.retry_in) == ("retrying", 5)
    with harness.db() as session, session.begin():  # the countdown has passed
        session.get(WebhookMessage, delivery_id).next_attempt_at = harness.message(  # type: ignore[union-attr]
            delivery_id
        ).created_at
    second = harness.attempt(delivery_id)
    assert (second.status, second.retry_in) == ("retrying", 300)
    requests = harness.receiver.at("/flaky")
    assert len(requests) == 2 and all(r.verified for r in requests)
    assert {r.headers["webhook-id"] for r in requests} == {delivery_id}
    assert len({r.headers["webhook-timestamp"] for r in requests}) == 2
    assert len({r.headers["webhook-signature"] for r in requests}) == 2


def test_when_the_schedule_is_spent_the_delivery_fails_and_says_so(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    harness = Harness(db, receiver, webhook_retry_schedule=[0, 0])
    harness.endpoint("/fail")
    [delivery_id] = harness.publish_order_matched()
    assert harness.attempt(delivery_id).status == "retrying"
    assert harness.attempt(delivery_id).status == "failed"
    assert harness.message(delivery_id).attempts == 2
    [failed] = harness.events("webhook-failed")
    assert failed["attempts"] == 2 and "500" in failed["reason"]


def test_an_endpoint_failing_for_the_span_is_disabled(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    harness = Harness(db, receiver, webhook_disable_after_seconds=0)
    endpoint_id = harness.endpoint("/fail")
    [delivery_id] = harness.publish_order_matched("ord_1")
    assert harness.attempt(delivery_id).status == "failed"
    [disabled] = harness.events("webhook-endpoint-disabled")
    assert disabled["endpoint_id"] == endpoint_id and "500" in disabled["reason"]
    with db() as session:
        assert session.get(WebhookEndpoint, endpoint_id).status == "disabled"  # type: ignore[union-attr]
    assert harness.publish_order_matched("ord_2") == []  # no deliveries to a disabled endpoint


def test_attempts_are_listed_and_a_delivery_can_be_replayed(harness: Harness) -> None:
    endpoint_id = harness.endpoint("/verify")
    [delivery_id] = harness.publish_order_matched()
    harness.attempt(delivery_id)
    replay = ReplayWebhookDelivery(endpoint_id=endpoint_id, delivery_id=delivery_id)
    assert harness.command(replay) == {"found": True, "replayed": True, "delivery_id": delivery_id}
    assert harness.dispatcher.sent[-1] == delivery_id
    assert harness.attempt(delivery_id).status == "delivered"
    listed = harness.command(ListWebhookDeliveries(endpoint_id=endpoint_id))
    assert listed["total"] == 2
    assert [item["attempt"] for item in listed["items"]] == [2, 1]
    assert {item["delivery_id"] for item in listed["items"]} == {delivery_id}
    first, second = harness.receiver.at("/verify")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery_id
    assert first.headers["webhook-timestamp"] != second.headers["webhook-timestamp"]
    other = ReplayWebhookDelivery(endpoint_id="ep_nope00000", delivery_id=delivery_id)
    assert harness.command(other) == {"found": False}
    assert harness.command(ListWebhookDeliveries(endpoint_id="ep_nope00000")) == {"found": False}


def test_one_delivery_in_flight_per_endpoint(harness: Harness) -> None:
    harness.endpoint("/ok")
    [first] = harness.publish_order_matched("ord_1")
    [second] = harness.publish_order_matched("ord_2")
    with harness.db() as session, session.begin():
        session.get(WebhookEndpoint, harness.message(first).endpoint_id).busy_until = (  # type: ignore[union-attr]
            harness.message(first).created_at.replace(year=2100)
        )
    busy = harness.attempt(second)
    assert (busy.status, busy.retry_in) == ("busy", harness.settings.webhook_busy_retry_seconds)
    assert harness.message(second).status == "pending" and harness.receiver.received == []


def test_the_sweep_sends_deliveries_that_are_overdue(
    db: sessionmaker[Session], receiver: Receiver
) -> None:
    harness = Harness(db, receiver, webhook_sweep_grace_seconds=0)
    harness.endpoint("/ok")
    [delivery_id] = harness.publish_order_matched()
    harness.dispatcher.sent.clear()  # as if that send had been lost
    assert harness.command(DispatchDueWebhooks()) == {"dispatched": 1}
    assert harness.dispatcher.sent == [delivery_id]
