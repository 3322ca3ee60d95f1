"""Payments settings (`PAYMENTS_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from switchboard_shared.required import RequiredSecret
from switchboard_shared.settings import ServiceSettings

PROGRAM = "switchboard-payments"


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")

    stripe_api_key: RequiredSecret  # PAYMENTS_STRIPE_API_KEY: no default, ever
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_timeout_seconds: float = 20.0
    reconcile_interval_seconds: float = 3600.0
    retry_failed_interval_seconds: float = 1800.0
    reconcile_lookback_hours: int = 24
    # A payment whose charge outcome is unknown is left to the message's own retries this long
    # before the retry job takes it over.
    unsettled_grace_seconds: float = 1800.0
    max_charge_retries: int = 3
    # Stripe's webhook events are handled in batches held open this long after the first:
    # a charge's own answer has usually moved its payment already (ADR 0022, addendum 4).
    webhook_batch_window_seconds: float = Field(default=0.1, ge=0, le=5)
