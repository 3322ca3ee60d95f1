"""The reports Celery app: `celery -A switchboard_reports.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .config import ReportsSettings
from .handlers import registry
from .models import Base

SERVICE = "reports"
QUEUES = ["reports.interactive", "reports.batch"]

definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=ReportsSettings(),
    metadata=Base.metadata,
)
app = create_service_app(definition)
