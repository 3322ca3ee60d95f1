"""Wires integrations' adapters into its handlers; tests pass fakes instead."""

from switchboard_shared.messagebus import HandlerRegistry

from .adapters.webhooks import WebhookSender
from .config import IntegrationsSettings


def bootstrap(
    registry: HandlerRegistry, settings: IntegrationsSettings, webhooks: WebhookSender | None = None
) -> None:
    registry.provide(
        webhooks=webhooks
        or WebhookSender(settings.webhook_timeout_seconds, settings.webhook_max_response_bytes)
    )
