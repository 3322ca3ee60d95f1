"""The integrations Celery app: `celery -A switchboard_integrations.app worker`."""

from __future__ import annotations

from typing import Any

from celery import Celery
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.commands import beat_entry
from switchboard_shared.context import MessageContext
from switchboard_shared.contracts.integrations import (
    CheckIntegrationsHealth,
    DeliverWebhook,
    DispatchDueWebhooks,
    SyncExternal,
)
from switchboard_shared.required import load_settings
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings
from switchboard_shared.tasks import KitTask

from .adapters.dispatch import CeleryDispatcher
from .bootstrap import bootstrap
from .config import PROGRAM, IntegrationsSettings
from .handlers import deliver_once
from .models import Base

SERVICE = "integrations"
# Strict order on Redis: control commands (register, list, replay) are never stuck behind
# a backlog of deliveries, and SMS not behind webhooks.
QUEUES = [
    "integrations.normal",
    "integrations.sms",
    "integrations.webhooks",
    "integrations.sync",
]


def beat_schedule(settings: IntegrationsSettings) -> dict[str, dict[str, Any]]:
    return {
        DispatchDueWebhooks.task_name: beat_entry(
            DispatchDueWebhooks, settings.webhook_sweep_seconds
        ),
        SyncExternal.task_name: beat_entry(SyncExternal, settings.sync_interval_seconds),
        CheckIntegrationsHealth.task_name: beat_entry(
            CheckIntegrationsHealth, settings.health_interval_seconds
        ),
    }


def register_delivery_task(app: Celery, definition: ServiceDefinition) -> None:
    """One attempt per run; the next one is a Celery retry with the schedule's countdown, or,
    when that countdown would reach half the Redis visibility timeout (ADR 0007), the beat's
    `dispatch_due_webhooks` sweep."""
    platform = definition.platform
    # Redis: a countdown near the visibility timeout runs twice (ADR 0007). RabbitMQ: a held
    # unacked message past consumer_timeout (30 min by default) closes the channel.
    longest_countdown = platform.visibility_timeout / 2 if platform.is_redis_broker else 900.0

    @app.task(
        name=DeliverWebhook.task_name,
        bind=True,
        base=KitTask,
        queue=DeliverWebhook.queue,
        ignore_result=True,
    )
    def deliver_webhook(self: KitTask, payload: Any) -> str:
        command = DeliverWebhook.model_validate(payload)
        context = MessageContext.new(
            self._correlation_id(()) or command.delivery_id, self.request.id
        )
        with self.runtime.uow(context) as uow:
            outcome = definition.registry.call(deliver_once, command, uow)
        delay = outcome.retry_in
        if delay is not None and delay < longest_countdown:
            countdown = delay if platform.is_redis_broker else max(1, round(delay))
            raise self.retry(countdown=countdown)
        return str(outcome.status)


def build_definition(platform: PlatformSettings | None = None) -> ServiceDefinition:
    platform = platform or PlatformSettings()
    settings = load_settings(IntegrationsSettings, PROGRAM)
    return ServiceDefinition(
        name=SERVICE,
        command_queues=QUEUES,
        registry=bootstrap(settings, platform),
        settings=settings,
        metadata=Base.metadata,
        beat_schedule=beat_schedule(settings),
        platform=platform,
    )


def build_app(definition: ServiceDefinition) -> Celery:
    celery = create_service_app(definition)
    definition.registry.provide(dispatcher=CeleryDispatcher(celery))
    register_delivery_task(celery, definition)
    return celery


definition = build_definition()
app = build_app(definition)
