"""Gateway settings, read from `SWITCHBOARD_*` on top of the platform-wide ones."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from switchboard_shared.settings import PlatformSettings

ONE_MIB = 1024 * 1024


class GatewaySettings(PlatformSettings):
    """`SWITCHBOARD_API_KEYS` is comma-separated: `SWITCHBOARD_API_KEYS=dev-key` or `a,b`."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    api_keys: Annotated[list[str], NoDecode] = []
    max_body_bytes: int = ONE_MIB
    public_url: str = "http://127.0.0.1:8000"
    stripe_webhook_secret: str = Field(
        default="whsec_switchboard_local",
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "SWITCHBOARD_STRIPE_WEBHOOK_SECRET"),
    )

    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "SWITCHBOARD_TWILIO_ACCOUNT_SID"),
    )
    twilio_auth_token: str = Field(
        default="switchboard_local_twilio_token",
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "SWITCHBOARD_TWILIO_AUTH_TOKEN"),
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return [str(key).strip() for key in value if str(key).strip()]
        return value

    @field_validator("max_body_bytes")
    @classmethod
    def _positive_limit(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("max_body_bytes must be positive")
        return value
