"""Integrations settings (`INTEGRATIONS_*`, plus Twilio's own `TWILIO_*` names)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from switchboard_shared.required import RequiredSecret
from switchboard_shared.settings import PortList, ServiceSettings, comma_separated

PROGRAM = "switchboard-integrations"
# Immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (the Standard Webhooks / Svix schedule).
DEFAULT_SCHEDULE = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class IntegrationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="INTEGRATIONS_", extra="ignore", populate_by_name=True
    )

    webhook_connect_timeout_seconds: float = 5.0
    webhook_timeout_seconds: float = 10.0
    webhook_deadline_seconds: float = 15.0
    webhook_max_response_bytes: int = 64 * 1024
    webhook_retry_schedule: Annotated[list[float], NoDecode] = DEFAULT_SCHEDULE
    webhook_disable_after_seconds: float = 5 * 24 * 3600.0
    webhook_sweep_seconds: float = 30.0
    webhook_sweep_grace_seconds: float = 60.0
    webhook_busy_retry_seconds: float = 1.0
    # Ports webhook URLs may name besides 80 and 443; in the environment `8443,9000`.
    webhook_allowed_ports: PortList = []

    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "INTEGRATIONS_TWILIO_ACCOUNT_SID"),
    )
    twilio_auth_token: RequiredSecret = Field(
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "INTEGRATIONS_TWILIO_AUTH_TOKEN"),
    )
    twilio_base_url: str = "http://127.0.0.1:8430"
    twilio_from: str = "+15005550006"
    twilio_timeout_seconds: float = 10.0
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("SWITCHBOARD_PUBLIC_URL", "INTEGRATIONS_PUBLIC_URL"),
    )

    sync_url: str = ""
    sync_source: str = "suppliers"
    sync_interval_seconds: float = 900.0
    sync_timeout_seconds: float = 10.0
    # A sync page's body is refused (the sync fails) once it passes this many bytes.
    sync_max_response_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    health_interval_seconds: float = 300.0

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        return comma_separated(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _sane_schedule(cls, value: list[float]) -> list[float]:
        if not value or any(delay < 0 for delay in value):
            raise ValueError("the retry schedule needs at least one delay, none negative")
        return value

    @property
    def status_callback_url(self) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/twilio/status"
