"""Dependencies shared by the routes, as `Annotated` aliases.

They are `async` because they never block: FastAPI runs a plain `def` dependency in the
threadpool, a thread hop per dependency per request."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.control import BrokerControl
from switchboard_gateway.ledger.queries import LazyLedger, TaskLedger
from switchboard_gateway.sender import CommandSender
from switchboard_gateway.store import GatewayStore, LazyStore

# List offsets stay far inside a 64-bit database integer (a larger one is a 422, never a 500).
MAX_OFFSET = 1_000_000_000


async def get_settings(request: Request) -> GatewaySettings:
    settings: GatewaySettings = request.app.state.settings
    return settings


async def get_sender(request: Request) -> CommandSender:
    sender: CommandSender = request.app.state.sender
    return sender


async def get_correlation_id(request: Request) -> str:
    """The correlation id of the work this request starts: the gateway's own (the request-log
    middleware mints one per request), never the caller's `X-Correlation-Id`."""
    flow_id = getattr(request.state, "flow_id", None)
    return flow_id or uuid.uuid4().hex


async def get_store(request: Request) -> GatewayStore:
    lazy: LazyStore = request.app.state.store
    return lazy.get()


async def get_ledger(request: Request) -> TaskLedger:
    lazy: LazyLedger = request.app.state.ledger
    return lazy.get()


async def get_control(request: Request) -> BrokerControl:
    control: BrokerControl = request.app.state.control
    return control


SettingsDep = Annotated[GatewaySettings, Depends(get_settings)]
StoreDep = Annotated[GatewayStore, Depends(get_store)]
SenderDep = Annotated[CommandSender, Depends(get_sender)]
CorrelationIdDep = Annotated[str, Depends(get_correlation_id)]
LedgerDep = Annotated[TaskLedger, Depends(get_ledger)]
ControlDep = Annotated[BrokerControl, Depends(get_control)]
