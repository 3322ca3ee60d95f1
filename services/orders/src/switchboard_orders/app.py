"""The orders Celery app: `celery -A switchboard_orders.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .config import OrdersSettings
from .handlers import registry
from .models import Base

SERVICE = "orders"
QUEUES = ["orders.critical", "orders.normal"]

definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=OrdersSettings(),
    metadata=Base.metadata,
)
app = create_service_app(definition)
