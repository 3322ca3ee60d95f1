"""Gateway settings, read from `SWITCHBOARD_*` on top of the platform-wide ones."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from switchboard_shared.flower.plan import FLOWER_PORTS
from switchboard_shared.ratelimit import Rate
from switchboard_shared.required import RequiredSecret
from switchboard_shared.settings import PlatformSettings, PortList

ONE_MIB = 1024 * 1024
PROGRAM = "switchboard-gateway"
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


class GatewayOpsSettings(PlatformSettings):
    """What every gateway process reads (API, worker, ledger), no provider secret among it.

    `SWITCHBOARD_API_KEYS` is comma-separated: `SWITCHBOARD_API_KEYS=dev-key` or `a,b`."""

    model_config = SettingsConfigDict(
        env_prefix="SWITCHBOARD_", extra="ignore", populate_by_name=True
    )

    api_keys: Annotated[list[str], NoDecode] = []
    admin_api_keys: Annotated[list[str], NoDecode] = []
    readonly_api_keys: Annotated[list[str], NoDecode] = []
    # Per API key (`N/s`, `N/m`, `N/h`; `off` for none), with a burst above the steady rate.
    rate_limit_reads: str = "100/s"
    rate_limit_reads_burst: int = Field(default=200, ge=1)
    rate_limit_writes: str = "100/s"
    rate_limit_writes_burst: int = Field(default=200, ge=1)
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


class GatewaySettings(GatewayOpsSettings):
    """The API process: the ops settings, the provider webhooks' secrets and their limits."""

    # /docs, /redoc and /openapi.json; a deploy may turn them off.
    docs_enabled: bool = True
    # Peers whose X-Forwarded-For/-Proto are believed (uvicorn's list: IPs, CIDRs or "*").
    forwarded_allow_ips: str = "127.0.0.1,::1"

    stripe_webhook_secret: RequiredSecret = Field(
        validation_alias=AliasChoices("STRIPE_WEBHOOK_SECRET", "SWITCHBOARD_STRIPE_WEBHOOK_SECRET"),
    )
    twilio_account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        validation_alias=AliasChoices("TWILIO_ACCOUNT_SID", "SWITCHBOARD_TWILIO_ACCOUNT_SID"),
    )
    twilio_auth_token: RequiredSecret = Field(
        validation_alias=AliasChoices("TWILIO_AUTH_TOKEN", "SWITCHBOARD_TWILIO_AUTH_TOKEN"),
    )
    # Per source address: every provider call, and (tighter) the calls whose signature fails.
    webhook_rate_limit: str = "1200/m"
    webhook_invalid_rate_limit: str = "30/m"
    # Refused calls are kept as metadata only, the newest this many.
    webhook_invalid_keep: int = Field(default=10_000, ge=1)
    # Threads of their own for the webhooks' blocking work: ops reads never take them.
    webhook_threads: int = Field(default=16, ge=1, le=256)
    # Outbound webhooks: ports an endpoint's URL may name besides 80 and 443 (`8443,9000`), as
    # the integrations worker's INTEGRATIONS_WEBHOOK_ALLOWED_PORTS: refused at registration.
    webhook_allowed_ports: PortList = []

    @field_validator("webhook_rate_limit", "webhook_invalid_rate_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        Rate.parse(value)  # raises on a malformed rate
        return value
