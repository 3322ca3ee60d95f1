"""The email Celery app: `celery -A switchboard_email.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .bootstrap import bootstrap
from .config import EmailSettings
from .handlers import registry
from .models import Base

SERVICE = "email"
QUEUES = ["email.urgent", "email.normal", "email.bulk"]

settings = EmailSettings()
bootstrap(registry, settings)
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=settings,
    metadata=Base.metadata,
)
app = create_service_app(definition)
