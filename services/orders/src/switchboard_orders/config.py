"""Orders settings (`ORDERS_*`)."""

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore")
