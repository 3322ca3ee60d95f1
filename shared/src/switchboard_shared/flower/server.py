"""Run Flower in this process for one service: scoped to its workers, `/metrics` behind auth."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import signal
import sys
from typing import Any

import flower.urls
from flower import command
from flower.app import Flower
from flower.views.monitor import Metrics
from tornado import ioloop, web
from tornado.options import options

from switchboard_shared.flower.plan import FlowerPlan
from switchboard_shared.flower.scope import ScopedEvents, ScopedInspector, ServiceScope

log = logging.getLogger("switchboard.flower")


class AuthenticatedMetrics(Metrics):  # type: ignore[misc]
    """Flower serves `/metrics` to anyone even with basic auth on (flower#1342)."""

    @web.authenticated  # type: ignore[misc]
    async def get(self) -> None:
        await super().get()


def protect_metrics() -> None:
    """Swap the route in Flower's handler table (shared by every Flower app in the process)."""
    handlers: list[Any] = flower.urls.handlers
    for index, handler in enumerate(handlers):
        if isinstance(handler, tuple) and handler[1] is Metrics:
            handlers[index] = (handler[0], AuthenticatedMetrics, *handler[2:])


class ScopedFlower(Flower):  # type: ignore[misc]
    def __init__(self, *, service: str, **kwargs: Any) -> None:
        loop = ioloop.IOLoop.current()
        opts = kwargs["options"]
        self.scope = ServiceScope(service)
        events = ScopedEvents(
            kwargs["capp"],
            io_loop=loop,
            db=opts.db,
            persistent=opts.persistent,
            state_save_interval=opts.state_save_interval,
            enable_events=opts.enable_events,
            max_workers_in_memory=opts.max_workers,
            max_tasks_in_memory=opts.max_tasks,
            scope=self.scope,
        )
        super().__init__(events=events, io_loop=loop, **kwargs)
        self.inspector = ScopedInspector(
            loop, self.capp, opts.inspect_timeout / 1000.0, scope=self.scope
        )
        self.inspector.on_released = events.replay
        events.on_unknown_worker = self.update_workers


def celery_app(plan: FlowerPlan) -> Any:
    return importlib.import_module(plan.app).app


def serve(plan: FlowerPlan) -> None:
    """Flower's own option handling (env `FLOWER_*`, flowerconfig.py), our address and port."""
    if plan.basic_auth:
        # Through Flower's env option, so the credentials never show in the process list.
        os.environ["FLOWER_BASIC_AUTH"] = ",".join(plan.basic_auth)
    protect_metrics()
    command.apply_env_options()
    command.apply_options(sys.argv[0], [f"--address={plan.address}", f"--port={plan.port}"])
    command.extract_settings()
    command.setup_logging()
    app = ScopedFlower(
        service=plan.service, capp=celery_app(plan), options=options, **flower.urls.settings
    )
    atexit.register(app.stop)
    signal.signal(signal.SIGTERM, command.sigterm_handler)
    port = app.start_http_server()
    auth = "basic auth" if plan.basic_auth else "NO auth (standalone, loopback only)"
    log.warning("Flower for %s on http://%s:%s with %s", plan.service, plan.address, port, auth)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        app.start()
