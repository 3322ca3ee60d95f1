"""Reports settings (`REPORTS_*`)."""

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class ReportsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")
