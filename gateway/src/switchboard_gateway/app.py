"""The gateway's own worker: `celery -A switchboard_gateway.app worker -B` consumes
`gateway.events` (every event type) into the event log and read models, relays the gateway's
outbox, and evaluates the alert rules on its beat."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings
from switchboard_shared.tasks import KitTask

from switchboard_gateway.audit import models as audit_models  # noqa: F401  (registers tables)
from switchboard_gateway.eventlog import registry
from switchboard_gateway.ledger import models as ledger_models  # noqa: F401  (registers tables)
from switchboard_gateway.models import Base

SERVICE = "gateway"
QUEUES = ["gateway.normal"]
ALERTS_TASK = "gateway.evaluate_alerts"


class GatewayStoreSettings(ServiceSettings):
    """`GATEWAY_DATABASE_URL` (default: `<data dir>/gateway.db`), `GATEWAY_EVENT_LOG_WINDOW_SECONDS`."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # The event log and views are a read model: a batch held this long takes a flow's events
    # in one transaction after them, not one beside each (ADR 0022, addendum 2).
    event_log_window_seconds: float = Field(default=0.05, ge=0, le=5)


def alert_schedule() -> dict[str, dict[str, Any]]:
    from switchboard_gateway.config import GatewayOpsSettings

    every = GatewayOpsSettings().alert_check_seconds
    return {
        ALERTS_TASK: {"task": ALERTS_TASK, "schedule": every, "options": {"expires": every * 2}}
    }


def build_definition(platform: PlatformSettings | None = None) -> ServiceDefinition:
    settings = GatewayStoreSettings()
    return ServiceDefinition(
        name=SERVICE,
        command_queues=QUEUES,
        registry=registry,
        settings=settings,
        metadata=Base.metadata,
        platform=platform or PlatformSettings(),
        beat_schedule=alert_schedule(),
        batch_events=True,  # every event of the platform: logged in batches (ADR 0022)
        event_batch_window=settings.event_log_window_seconds,
    )


definition = build_definition()
app = create_service_app(definition)


@app.task(name=ALERTS_TASK, bind=True, base=KitTask, queue=QUEUES[0])
def evaluate_alerts(self: KitTask) -> dict[str, int]:
    from switchboard_gateway.alerts import evaluate
    from switchboard_gateway.config import GatewayOpsSettings
    from switchboard_gateway.control import CeleryBrokerControl
    from switchboard_gateway.ledger.queries import TaskLedger
    from switchboard_gateway.monitor import PlatformView

    settings = GatewayOpsSettings()
    ledger = TaskLedger(self.runtime.session_factory, settings.services)
    view = PlatformView(settings, CeleryBrokerControl(self.app), ledger)
    return evaluate(view, settings, self.runtime)
