"""The payments Celery app: `celery -A switchboard_payments.app worker`."""

from typing import Any

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.commands import beat_entry
from switchboard_shared.contracts.gateway import StripeEventReceived
from switchboard_shared.required import load_settings
from switchboard_shared.runtime import ServiceDefinition

from .bootstrap import bootstrap
from .commands import ReconcilePayments, RetryFailedPayments
from .config import PROGRAM, PaymentsSettings
from .models import Base

SERVICE = "payments"
QUEUES = ["payments.critical", "payments.normal", "payments.batch"]


def beat_schedule(settings: PaymentsSettings) -> dict[str, dict[str, Any]]:
    return {
        ReconcilePayments.task_name: beat_entry(
            ReconcilePayments, settings.reconcile_interval_seconds
        ),
        RetryFailedPayments.task_name: beat_entry(
            RetryFailedPayments, settings.retry_failed_interval_seconds
        ),
    }


settings = load_settings(PaymentsSettings, PROGRAM)
definition = ServiceDefinition(
    name=SERVICE,
    command_queues=QUEUES,
    registry=bootstrap(settings),
    settings=settings,
    metadata=Base.metadata,
    beat_schedule=beat_schedule(settings),
    # Stripe's webhooks only write payments' database: handled in batches, from a queue of
    # their own (ADR 0022, addendum 4). order-created calls Stripe: one Celery task each.
    batch_events=(StripeEventReceived,),
    event_batch_window=settings.webhook_batch_window_seconds,
)
app = create_service_app(definition)
