"""Email settings (`EMAIL_*`)."""

from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import SettingsConfigDict
from switchboard_shared.ratelimit import Rate
from switchboard_shared.settings import ServiceSettings


class EmailSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMAIL_", extra="ignore")

    provider: Literal["smtp", "ses"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_ca_file: str = ""  # PEM CA bundle trusted instead of the system's (a private CA)
    smtp_timeout: float = 10.0
    smtp_keepalive_seconds: float = 30.0
    ses_region: str = "us-east-1"
    ses_endpoint_url: str = ""
    sender: str = "Switchboard <no-reply@switchboard.local>"
    rate_limit: str = "50/m"
    rate_limit_burst: float = 1.0
    bulk_slice_size: int = 100
    bulk_lanes: int = 2
    bulk_deferred_passes: int = 3
    bulk_deferred_wait_seconds: float = 60.0

    @field_validator("smtp_ca_file")
    @classmethod
    def _readable(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"EMAIL_SMTP_CA_FILE {value!r} is not a file")
        return value

    @field_validator("rate_limit")
    @classmethod
    def _parses(cls, value: str) -> str:
        Rate.parse(value)
        return value
