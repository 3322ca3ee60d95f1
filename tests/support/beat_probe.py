"""A kit app whose beat sends `beatprobe.tick` every `BEAT_PROBE_INTERVAL` seconds (never consumed:
the test counts the messages left in `beatprobe.normal`)."""

from __future__ import annotations

import os

from switchboard_shared.celery_app import create_service_app
from switchboard_shared.messagebus import HandlerRegistry
from switchboard_shared.runtime import ServiceDefinition
from switchboard_shared.settings import PlatformSettings, ServiceSettings

TICK = "beatprobe.tick"
QUEUE = "beatprobe.normal"

definition = ServiceDefinition(
    name="beatprobe",
    command_queues=[QUEUE],
    registry=HandlerRegistry(),
    settings=ServiceSettings(),
    beat_schedule={
        TICK: {"task": TICK, "schedule": float(os.environ.get("BEAT_PROBE_INTERVAL", "2"))}
    },
    task_routes={TICK: {"queue": QUEUE}},
    platform=PlatformSettings(),
)
app = create_service_app(definition)
