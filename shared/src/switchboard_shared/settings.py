"""Settings every service shares. Each package subclasses `ServiceSettings` with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


def comma_separated(value: Any) -> Any:
    """`"8443, 9000"` → `["8443", "9000"]` (pydantic then checks each item)."""
    if isinstance(value, str):
        return [part for part in value.replace(" ", "").split(",") if part]
    return value


TcpPort = Annotated[int, Field(gt=0, lt=65536)]
PortList = Annotated[list[TcpPort], NoDecode, BeforeValidator(comma_separated)]
"""Ports from a comma-separated variable: `SWITCHBOARD_WEBHOOK_ALLOWED_PORTS=8443,9000`."""


class PlatformSettings(BaseSettings):
    """Platform-wide values, read from `SWITCHBOARD_*` (shared by every service and the gateway)."""

    model_config = SettingsConfigDict(env_prefix="SWITCHBOARD_", extra="ignore")

    broker_url: str = "redis://127.0.0.1:6379/0"
    redis_url: str = Field(
        default="",
        description="Redis for results, liveness and rate limits; defaults to the broker when it is Redis.",
    )
    data_dir: Path = DEFAULT_DATA_DIR
    log_level: str = "INFO"
    log_json: bool = True
    visibility_timeout: int = 7200
    max_deliveries: int = 5
    retry_base_seconds: float = 60.0
    retry_max_attempts: int = 4
    outbox_sweep_seconds: float = 5.0
    outbox_mark_delay_seconds: float = 0.2
    event_bindings_ttl_seconds: float = 1.0
    event_batch_max_messages: int = 200
    event_batch_max_wait_seconds: float = 0.05
    event_batch_linger_seconds: float = 0.001
    liveness_probe_seconds: float = 15.0
    beat_lock_seconds: int = 30
    beat_loop_seconds: float = 5.0
    task_soft_time_limit: int = 300
    task_time_limit: int = 360
    allow_private_webhooks: bool = Field(
        default=False,
        description="Let webhooks reach private/loopback addresses (never cloud metadata ones).",
    )
    task_events_window_seconds: float = 0.1
    task_events_batch_max: int = 100

    @property
    def is_redis_broker(self) -> bool:
        return self.broker_url.startswith(("redis://", "rediss://", "redis+socket://"))

    @property
    def effective_redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        if self.is_redis_broker:
            return self.broker_url
        return "redis://127.0.0.1:6379/0"


class ServiceSettings(BaseSettings):
    """Per-service values; subclasses set `env_prefix` (e.g. `PAYMENTS_`)."""

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = ""
    worker_concurrency: int = 2
    prefetch_multiplier: int = 1

    def resolved_database_url(self, service: str, platform: PlatformSettings) -> str:
        """The configured URL, or one SQLite file per service under the data dir."""
        if self.database_url:
            return self.database_url
        platform.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(platform.data_dir / f'{service}.db').resolve()}"
