"""The integrations Celery app: `celery -A switchboard_integrations.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .bootstrap import bootstrap
from .config import IntegrationsSettings
from .handlers import registry
from .models import Base

SERVICE = "integrations"
QUEUES = ["integrations.webhooks", "integrations.sms", "integrations.sync"]

settings = IntegrationsSettings()
bootstrap(registry, settings)
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=settings,
    metadata=Base.metadata,
)
app = create_service_app(definition)
