"""Integrations' handlers."""

from __future__ import annotations

from typing import Any

from switchboard_shared.contracts.integrations import DeliverWebhook, WebhookDelivered
from switchboard_shared.contracts.orders import OrderMatched
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.uow import UnitOfWork

from .adapters.webhooks import WebhookSender
from .models import SupplierNotification, WebhookDelivery

registry = HandlerRegistry()


@registry.command(DeliverWebhook)
def deliver_webhook(
    command: DeliverWebhook, uow: UnitOfWork, webhooks: WebhookSender
) -> dict[str, Any]:
    delivery_id = f"msg_{uow.context.causation_id}"
    result = webhooks.send(str(command.url), command.secret, delivery_id, command.payload)
    uow.session.add(
        WebhookDelivery(
            id=delivery_id,
            url=str(command.url),
            event_type=command.event_type,
            status_code=result.status_code,
        )
    )
    uow.publish(
        WebhookDelivered(
            delivery_id=delivery_id,
            url=str(command.url),
            event_type=command.event_type,
            status_code=result.status_code,
            attempts=1,
        )
    )
    return {"delivery_id": delivery_id, "status_code": result.status_code}


@registry.on(OrderMatched)
def notify_supplier(event: OrderMatched, uow: UnitOfWork) -> None:
    if uow.session.get(SupplierNotification, event.order_id) is None:
        uow.session.add(
            SupplierNotification(order_id=event.order_id, supplier_id=event.supplier_id)
        )
