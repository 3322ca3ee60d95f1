"""Wires reports' handlers to storage and the fact reader: production passes nothing, tests pass theirs."""

from __future__ import annotations

from dataclasses import replace

from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.settings import PlatformSettings

from .adapters.storage import LocalStorage, ReportStorage
from .config import ReportsSettings
from .generation import Reporter
from .handlers import registry
from .readmodel import FactReader


def build_storage(settings: ReportsSettings, platform: PlatformSettings) -> ReportStorage:
    if settings.storage == "s3":
        from .adapters.s3 import S3Storage  # boto3 is loaded only where S3 is used

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.resolved_storage_dir(platform))


def build_reporter(
    settings: ReportsSettings,
    platform: PlatformSettings,
    database_url: str,
    storage: ReportStorage | None = None,
) -> Reporter:
    storage = storage or build_storage(settings, platform)
    workdir = storage.root / ".work" if isinstance(storage, LocalStorage) else None
    return Reporter(settings, storage, FactReader.for_url(database_url), workdir)


def bootstrap(settings: ReportsSettings, reporter: Reporter) -> HandlerRegistry:
    """The handlers with their dependencies: a copy, so each caller (a test) has its own."""
    wired = replace(registry, dependencies=dict(registry.dependencies))
    wired.provide(settings=settings, reporter=reporter)
    return wired
