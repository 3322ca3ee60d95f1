"""Email settings (`EMAIL_*`)."""

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import ServiceSettings


class EmailSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMAIL_", extra="ignore")

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout: float = 10.0
    sender: str = "Switchboard <no-reply@switchboard.local>"
