"""The email Celery app: `celery -A switchboard_email.app worker`."""

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.ratelimit import limiter_for
from switchboard_shared.runtime import ServiceDefinition

from .bootstrap import bootstrap
from .config import EmailSettings
from .handlers import registry
from .models import Base
from .tasks import register_bulk_task

SERVICE = "email"
QUEUES = ["email.urgent", "email.normal", "email.bulk"]

settings = EmailSettings()
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=registry,
    settings=settings,
    metadata=Base.metadata,
)
app = create_service_app(definition)
register_bulk_task(app, registry)
# One bucket for every email worker: tokens are taken in Redis, on the runtime's client.
limiter = limiter_for(
    lambda: app.runtime.redis,  # type: ignore[attr-defined]
    SERVICE,
    settings.rate_limit,
    settings.rate_limit_burst,
)
bootstrap(registry, settings, limiter=limiter)
