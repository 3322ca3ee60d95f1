"""Reports settings (`REPORTS_*`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic_settings import SettingsConfigDict
from switchboard_shared.settings import PlatformSettings, ServiceSettings


class ReportsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTS_", extra="ignore")

    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None  # default: <SWITCHBOARD_DATA_DIR>/reports
    s3_bucket: str = "switchboard-reports"
    s3_prefix: str = "reports/"
    s3_region: str = "us-east-1"
    s3_endpoint_url: str | None = None  # e.g. a moto server or MinIO
    s3_sse: Literal["", "AES256", "aws:kms"] = ""
    s3_kms_key_id: str | None = None
    presign_seconds: int = 24 * 3600
    max_file_bytes: int = 200 * 1024 * 1024
    max_period_days: int = 366
    time_limit_seconds: int = 600
    soft_time_limit_seconds: int = 570
    rate_limit: str = "20/m"
    daily_report_hour: int = 6
    daily_report_kinds: str = "sales,orders,payments,operations"
    daily_report_format: str = "pdf"
    retention_days: int = 30
    cleanup_hour: int = 3

    def resolved_storage_dir(self, platform: PlatformSettings) -> Path:
        return self.storage_dir or platform.data_dir / "reports"

    @property
    def daily_kinds(self) -> list[str]:
        return [kind.strip() for kind in self.daily_report_kinds.split(",") if kind.strip()]
