"""The payments Celery app: `celery -A switchboard_payments.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .config import PaymentsSettings
from .handlers import registry
from .models import Base

SERVICE = "payments"
QUEUES = ["payments.critical", "payments.normal", "payments.batch"]

definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=PaymentsSettings(),
    metadata=Base.metadata,
)
app = create_service_app(definition)
