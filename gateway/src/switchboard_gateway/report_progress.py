"""How far a report's task is: read from the Celery result backend for now.

One small function behind a dependency, so the gateway's task ledger can replace it
(`app.dependency_overrides[get_progress_reader] = …`) without touching the routes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery
from fastapi import Request

from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.sender import make_celery_client

log = logging.getLogger("switchboard.gateway")


@dataclass(frozen=True)
class TaskProgress:
    state: str  # Celery's: PENDING, STARTED, PROGRESS, SUCCESS, FAILURE, RETRY …
    percent: float
    step: str | None


ProgressReader = Callable[[str], TaskProgress | None]


def backend_progress(client: Celery, task_id: str) -> TaskProgress | None:
    """The task's state and `PROGRESS` meta (percent, step); None when the backend is down."""
    try:
        result = client.AsyncResult(task_id)
        state, info = result.state, result.info
    except Exception as exc:  # progress is a nicety: never fail the status call over it
        log.warning("result backend unavailable for progress: %s", exc)
        return None
    if state == "SUCCESS":
        return TaskProgress(state, 100.0, "done")
    if isinstance(info, dict):
        return TaskProgress(state, float(info.get("progress", 0.0)), info.get("current_step"))
    return TaskProgress(state, 0.0, None)


def get_progress_reader(request: Request) -> ProgressReader:
    client: Celery | None = getattr(request.app.state, "report_progress_client", None)
    if client is None:
        settings: GatewaySettings = request.app.state.settings
        client = make_celery_client(settings.broker_url, settings.effective_redis_url)
        request.app.state.report_progress_client = client
    return lambda task_id: backend_progress(client, task_id)
