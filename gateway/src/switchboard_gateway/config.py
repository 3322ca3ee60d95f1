"""Gateway settings, read from `SWITCHBOARD_*` on top of the platform-wide ones."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from switchboard_shared.flower.plan import FLOWER_PORTS
from switchboard_shared.settings import PlatformSettings

ONE_MIB = 1024 * 1024
SERVICE_QUEUES: dict[str, list[str]] = {
    "orders": ["orders.critical", "orders.normal", "orders.events"],
    "payments": [
        "payments.critical",
        "payments.normal",
        "payments.batch",
        "payments.events",
        "payments.events.batched",
    ],
    "email": ["email.urgent", "email.normal", "email.bulk", "email.events"],
    "reports": ["reports.interactive", "reports.batch", "reports.events"],
    "integrations": [
        "integrations.normal",
        "integrations.webhooks",
        "integrations.sms",
        "integrations.sync",
        "integrations.events",
    ],
    "gateway": ["gateway.normal", "gateway.events"],
}


def default_queue(queues: list[str]) -> str:
    """Where a service's kit commands go: as `ServiceDefinition.default_queue` chooses."""
    normal = [q for q in queues if q.endswith(".normal")]
    return normal[0] if normal else queues[0]


class GatewaySettings(PlatformSettings):
    """`SWITCHBOARD_API_KEYS` is comma-separated: `SWITCHBOARD_API_KEYS=dev-key` or `a,b`."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    api_keys: Annotated[list[str], NoDecode] = []
    admin_api_keys: Annotated[list[str], NoDecode] = []
    readonly_api_keys: Annotated[list[str], NoDecode] = []
    services: dict[str, list[str]] = Field(default_factory=lambda: dict(SERVICE_QUEUES))
    flower_urls: dict[str, str] = Field(
        default_factory=lambda: {s: f"http://127.0.0.1:{p}" for s, p in FLOWER_PORTS.items()}
    )
    worker_heartbeat_max_age: float = 60.0
    ledger_reconcile_seconds: float = 15.0
    alert_failure_rate: float = 0.25
    alert_failure_min_tasks: int = 5
    alert_window_minutes: float = 15.0
    alert_queue_backlog: int = 1000
    alert_check_seconds: float = 30.0
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

    @field_validator("api_keys", "admin_api_keys", "readonly_api_keys", mode="before")
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
