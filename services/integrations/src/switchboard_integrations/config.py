"""Integrations settings (`INTEGRATIONS_*`)."""

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class IntegrationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTEGRATIONS_", extra="ignore")

    webhook_timeout_seconds: float = 10.0
    webhook_max_response_bytes: int = 64 * 1024
