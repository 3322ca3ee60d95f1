"""What the root command hands to every sub-command: the resolved config and one client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import httpx
import typer

from switchboard_gateway.cli.client import GatewayClient
from switchboard_gateway.cli.config import CliConfig, resolve

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
HoursOption = Annotated[
    float, typer.Option("--hours", min=0.01, max=24 * 90, help="The window to look back over.")
]


@dataclass
class State:
    config: CliConfig = field(default_factory=lambda: resolve(None, None, 10.0))
    transport: httpx.BaseTransport | None = None  # tests plug an in-memory gateway in here
    _client: GatewayClient | None = None

    @property
    def client(self) -> GatewayClient:
        if self._client is None:
            self._client = GatewayClient(self.config, self.transport)
        return self._client


def client_of(ctx: typer.Context) -> GatewayClient:
    state = ctx.find_object(State)
    if state is None:  # a sub-command invoked without the root callback (never from the shell)
        state = ctx.ensure_object(State)
    return state.client
