"""The orders Celery app: `celery -A switchboard_orders.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.runtime import ServiceDefinition

from .config import OrdersSettings
from .handlers import registry
from .models import Base
from .schedule import beat_schedule

SERVICE = "orders"
QUEUES = ["orders.critical", "orders.normal"]

settings = OrdersSettings()
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=settings,
    metadata=Base.metadata,
    beat_schedule=beat_schedule(settings),
    # Its handlers only write the orders database: one transaction per batch (ADR 0022).
    batch_events=True,
)
app = create_service_app(definition)
