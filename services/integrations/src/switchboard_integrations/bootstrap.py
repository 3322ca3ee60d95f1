"""Wires integrations' handlers to their adapters: production passes nothing, tests pass fakes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.netguard import WEB_PORTS, AddressPolicy
from switchboard_shared.required import load_settings
from switchboard_shared.settings import PlatformSettings

from .adapters.external_api import HttpExternalSource
from .adapters.probe import TcpProbe
from .adapters.twilio_sms import TwilioSms
from .adapters.webhooks import SenderLimits, WebhookSender
from .config import PROGRAM, IntegrationsSettings
from .handlers import registry


def sender_limits(settings: IntegrationsSettings) -> SenderLimits:
    return SenderLimits(
        connect_timeout=settings.webhook_connect_timeout_seconds,
        read_timeout=settings.webhook_timeout_seconds,
        deadline=settings.webhook_deadline_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
    )


def bootstrap(
    settings: IntegrationsSettings | None = None,
    platform: PlatformSettings | None = None,
    **overrides: Any,
) -> HandlerRegistry:
    """The handlers with their dependencies (a copy per caller); `overrides` replace adapters
    by name: `webhooks`, `sms_provider`, `source`, `probe`, `dispatcher`."""
    settings = settings or load_settings(IntegrationsSettings, PROGRAM)
    policy = AddressPolicy(
        allow_private=(platform or PlatformSettings()).allow_private_webhooks,
        allowed_ports=WEB_PORTS | set(settings.webhook_allowed_ports),
    )
    adapters: dict[str, Any] = {
        "settings": settings,
        "webhooks": WebhookSender(sender_limits(settings), policy),
        "sms_provider": TwilioSms(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_base_url,
            settings.twilio_from,
            settings.twilio_timeout_seconds,
        ),
        "source": HttpExternalSource(
            settings.sync_timeout_seconds, max_response_bytes=settings.sync_max_response_bytes
        ),
        "probe": TcpProbe(policy, settings.webhook_connect_timeout_seconds),
    }
    wired = replace(registry, dependencies=dict(registry.dependencies))
    wired.provide(**{**adapters, **overrides})
    return wired
