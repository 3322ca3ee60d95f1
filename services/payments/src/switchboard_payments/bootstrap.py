"""Wires payments' handlers to their adapters: production passes nothing, tests pass fakes."""

from __future__ import annotations

from dataclasses import replace

from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.required import load_settings

from .adapters.stripe import PaymentProvider, StripeProvider
from .config import PROGRAM, PaymentsSettings
from .handlers import registry


def bootstrap(
    settings: PaymentsSettings | None = None, payments: PaymentProvider | None = None
) -> HandlerRegistry:
    """The handlers with their dependencies: a copy, so each caller (a test) has its own."""
    settings = settings or load_settings(PaymentsSettings, PROGRAM)
    if payments is None:
        payments = StripeProvider(
            settings.stripe_api_key, settings.stripe_api_base, settings.stripe_timeout_seconds
        )
    wired = replace(registry, dependencies=dict(registry.dependencies))
    wired.provide(payments=payments, settings=settings)
    return wired
