"""The gateway's own worker: `celery -A switchboard_gateway.app worker` consumes `gateway.events`
(every event type) into the event log and read models, and relays the gateway's outbox."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict
from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings

from switchboard_gateway.eventlog import registry
from switchboard_gateway.ledger import models as ledger_models  # noqa: F401  (registers tables)
from switchboard_gateway.models import Base

SERVICE = "gateway"
QUEUES = ["gateway.normal"]


class GatewayStoreSettings(ServiceSettings):
    """`GATEWAY_DATABASE_URL` (default: `<data dir>/gateway.db`)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")


def build_definition(platform: PlatformSettings | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name=SERVICE,
        command_queues=QUEUES,
        registry=registry,
        settings=GatewayStoreSettings(),
        metadata=Base.metadata,
        platform=platform or PlatformSettings(),
    )


definition = build_definition()
app = create_service_app(definition)
