"""The gateway's FastAPI app: `create_app()` for tests and embedding, `app` for uvicorn."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import Depends, FastAPI
from switchboard_shared.logging import configure_logging
from switchboard_shared.required import load_settings

from switchboard_gateway import prometheus, webhooks
from switchboard_gateway.api.v1 import include_v1
from switchboard_gateway.audit.log import writer as audit_writer
from switchboard_gateway.audit.middleware import AuditMiddleware
from switchboard_gateway.body_limit import BodyLimitMiddleware
from switchboard_gateway.config import PROGRAM, GatewaySettings
from switchboard_gateway.control import BrokerControl, CeleryBrokerControl
from switchboard_gateway.errors import install_error_handlers
from switchboard_gateway.key_limits import KeyRateLimits
from switchboard_gateway.ledger.queries import LazyLedger
from switchboard_gateway.request_log import RequestLogMiddleware
from switchboard_gateway.sender import (
    CeleryCommandSender,
    CommandSender,
    LedgerSender,
    make_celery_client,
)
from switchboard_gateway.store import LazyStore
from switchboard_gateway.text_guard import refuse_unstorable_text


def _version() -> str:
    try:
        return version("switchboard-gateway")
    except PackageNotFoundError:
        return "0.0.0"


def _docs(settings: GatewaySettings) -> dict[str, Any]:
    """/docs, /redoc and /openapi.json, or none of them (`SWITCHBOARD_DOCS_ENABLED=false`)."""
    return {} if settings.docs_enabled else dict(docs_url=None, redoc_url=None, openapi_url=None)


def create_app(
    settings: GatewaySettings | None = None,
    sender: CommandSender | None = None,
    store: LazyStore | None = None,
    control: BrokerControl | None = None,
) -> FastAPI:
    settings = settings or load_settings(GatewaySettings, PROGRAM)
    app = FastAPI(
        title="Switchboard gateway",
        version=_version(),
        description="Submit background work, track tasks and watch the platform's health.",
        dependencies=[Depends(refuse_unstorable_text)],
        **_docs(settings),
    )
    app.state.settings = settings
    app.state.store = store or LazyStore(settings)
    app.state.ledger = ledger = LazyLedger(app.state.store, settings.services)
    app.state.sender = LedgerSender(
        sender or CeleryCommandSender.for_settings(settings),
        lambda task_id, name, queue: ledger.get().record_submission(task_id, name, queue),
    )
    app.state.control = control or CeleryBrokerControl(
        make_celery_client(settings.broker_url, settings.effective_redis_url)
    )
    app.state.key_limits = KeyRateLimits(settings)
    install_error_handlers(app)
    include_v1(app)
    app.include_router(webhooks.router)
    app.include_router(prometheus.router)
    # Added last runs first: the log wraps the body limit, so 413s are logged too.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(AuditMiddleware, sink=lambda: audit_writer(app.state.store.get()))
    app.add_middleware(RequestLogMiddleware)
    return app


def _default_app() -> FastAPI:
    settings = load_settings(GatewaySettings, PROGRAM)  # its secrets missing: one line, exit 2
    configure_logging("gateway", settings.log_level, settings.log_json)
    return create_app(settings)


def __getattr__(name: str) -> FastAPI:
    """`uvicorn switchboard_gateway.main:app` builds the app, reading its settings, on first
    use: importing `create_app` needs no environment."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = globals()["app"] = _default_app()
    return built
