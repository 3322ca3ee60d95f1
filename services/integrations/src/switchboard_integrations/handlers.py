"""Integrations' handlers: plain functions over a unit of work and the adapters."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts import EVENTS, Envelope, Event
from switchboard_shared.contracts.gateway import TwilioStatusReceived
from switchboard_shared.contracts.integrations import (
    NOT_DELIVERABLE,
    CheckIntegrationsHealth,
    DeliverWebhook,
    DispatchDueWebhooks,
    ListWebhookDeliveries,
    RegisterWebhookEndpoint,
    ReplayWebhookDelivery,
    SendSms,
    SyncExternal,
)
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.records import utcnow
from switchboard_shared.uow import UnitOfWork

from . import endpoints, sms, upkeep
from .adapters.dispatch import DeliveryDispatcher
from .adapters.external_api import ExternalSource
from .adapters.probe import EndpointProbe
from .adapters.twilio_sms import SmsProvider
from .adapters.webhooks import WebhookPoster
from .config import IntegrationsSettings
from .deliveries import Outcome, attempt_delivery, due_for_dispatch, fan_out
from .models import SupplierNotification

registry = HandlerRegistry()
DELIVERABLE = [spec.model for kind, spec in EVENTS.items() if kind not in NOT_DELIVERABLE]


@registry.on(*DELIVERABLE)
def deliver_to_endpoints(
    event: Event, uow: UnitOfWork, envelope: Envelope, dispatcher: DeliveryDispatcher
) -> None:
    fan_out(envelope, uow, dispatcher)


@registry.on(OrderMatched)
def notify_supplier(event: OrderMatched, uow: UnitOfWork) -> None:
    if uow.session.get(SupplierNotification, event.order_id) is None:
        uow.session.add(
            SupplierNotification(order_id=event.order_id, supplier_id=event.supplier_id)
        )


@registry.on(TwilioStatusReceived)
def follow_sms_status(event: TwilioStatusReceived, uow: UnitOfWork) -> None:
    sms.apply_status(event, uow)


@registry.command(RegisterWebhookEndpoint)
def register_webhook_endpoint(command: RegisterWebhookEndpoint, uow: UnitOfWork) -> dict[str, Any]:
    return endpoints.register_endpoint(command, uow)


@registry.command(ListWebhookDeliveries)
def list_webhook_deliveries(query: ListWebhookDeliveries, uow: UnitOfWork) -> dict[str, Any]:
    return endpoints.list_deliveries(query, uow)


@registry.command(ReplayWebhookDelivery)
def replay_webhook_delivery(
    command: ReplayWebhookDelivery, uow: UnitOfWork, dispatcher: DeliveryDispatcher
) -> dict[str, Any]:
    return endpoints.replay_delivery(command, uow, dispatcher)


@registry.command(DispatchDueWebhooks)
def dispatch_due_webhooks(
    command: DispatchDueWebhooks,
    uow: UnitOfWork,
    dispatcher: DeliveryDispatcher,
    settings: IntegrationsSettings,
) -> dict[str, Any]:
    due = due_for_dispatch(uow.session, settings.webhook_sweep_grace_seconds)
    for message in due:
        message.next_attempt_at = utcnow()  # not overdue again until another grace has passed
        correlation = str(message.payload.get("correlation_id") or message.id)
        dispatcher.after_commit(uow.session, [message.id], correlation)
    return {"dispatched": len(due)}


def deliver_once(
    command: DeliverWebhook,
    uow: UnitOfWork,
    webhooks: WebhookPoster,
    settings: IntegrationsSettings,
) -> Outcome:
    """One attempt (not a registered command: the task owns its retries, see app.py)."""
    return attempt_delivery(command.delivery_id, uow, webhooks, settings)


@registry.command(SendSms)
def send_sms(
    command: SendSms, uow: UnitOfWork, sms_provider: SmsProvider, settings: IntegrationsSettings
) -> dict[str, Any]:
    return sms.send_sms(command, uow, sms_provider, settings)


@registry.command(SyncExternal)
def sync_external(
    command: SyncExternal, uow: UnitOfWork, source: ExternalSource, settings: IntegrationsSettings
) -> dict[str, Any]:
    return upkeep.sync_external(uow, source, settings)


@registry.command(CheckIntegrationsHealth)
def check_health(
    command: CheckIntegrationsHealth,
    uow: UnitOfWork,
    probe: EndpointProbe,
    sms_provider: SmsProvider,
) -> dict[str, Any]:
    return upkeep.check_health(uow, probe, sms_provider)
