"""Payments settings (`PAYMENTS_*`)."""

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore")
