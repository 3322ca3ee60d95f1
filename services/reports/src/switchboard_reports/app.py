"""The reports Celery app: `celery -A switchboard_reports.app worker`."""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.contracts import Command
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings

from .bootstrap import bootstrap, build_reporter
from .commands import CleanupReports, RunDailyReports
from .config import ReportsSettings
from .models import Base
from .tasks import register_report_tasks

SERVICE = "reports"
QUEUES = ["reports.interactive", "reports.batch"]


def daily_at(command: type[Command], hour: int) -> dict[str, Any]:
    """A beat entry sending `command` (with its defaults) every day at `hour`:00 UTC."""
    return {
        "task": command.task_name,
        "schedule": crontab(hour=hour, minute=0),
        "args": [{}],
        "options": {"queue": command.queue, "expires": 3600},
    }


def beat_schedule(settings: ReportsSettings) -> dict[str, dict[str, Any]]:
    return {
        RunDailyReports.task_name: daily_at(RunDailyReports, settings.daily_report_hour),
        CleanupReports.task_name: daily_at(CleanupReports, settings.cleanup_hour),
    }


settings = ReportsSettings()
platform = PlatformSettings()
reporter = build_reporter(settings, platform, settings.resolved_database_url(SERVICE, platform))
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=bootstrap(settings, reporter),
    settings=settings,
    metadata=Base.metadata,
    beat_schedule=beat_schedule(settings),
    platform=platform,
)
app = create_service_app(definition)
register_report_tasks(app, reporter, settings)
