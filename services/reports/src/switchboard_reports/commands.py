"""Reports' own commands (sent by its beat or by an operator; no other service asks for them)."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field
from switchboard_shared.contracts.base import Command


class CleanupReports(Command):
    """Delete reports older than the retention from storage and from the records."""

    task_name: ClassVar[str] = "reports.cleanup"
    queue: ClassVar[str] = "reports.batch"

    retention_days: int | None = Field(default=None, ge=0, le=3650)


class RunDailyReports(Command):
    """The daily batch: one report per configured kind for `day` (default: yesterday)."""

    task_name: ClassVar[str] = "reports.daily"
    queue: ClassVar[str] = "reports.batch"

    day: date | None = None


class RebuildFacts(Command):
    """Recompute the daily facts from the stored event rows."""

    task_name: ClassVar[str] = "reports.rebuild_facts"
    queue: ClassVar[str] = "reports.batch"
