"""Orders settings (`ORDERS_*`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")

    rematch_interval_seconds: float = Field(default=900.0, gt=0)
    rematch_batch_size: int = Field(default=500, ge=1, le=10_000)
    reminder_check_seconds: float = Field(default=3600.0, gt=0)
    reminder_after_hours: float = Field(default=24.0, gt=0)
