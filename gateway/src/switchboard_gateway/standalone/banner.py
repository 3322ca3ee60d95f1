"""What the launcher prints once everything is ready: key, URLs, a curl that places an order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from switchboard_shared.flower.plan import FLOWER_PORTS

from switchboard_gateway.api.orders import ORDER_EXAMPLE
from switchboard_gateway.standalone.children import SERVICES, LocalProviders
from switchboard_gateway.standalone.say import masked


@dataclass(frozen=True)
class Banner:
    api_key: str
    base_url: str
    broker_url: str
    data_dir: Path
    providers: LocalProviders
    flower: bool

    def lines(self) -> list[str]:
        lines = [
            "",
            "Switchboard is running.",
            "",
            f"  API key        {self.api_key}",
            f"  Gateway        {self.base_url}/api/v1/health",
            f"  API docs       {self.base_url}/docs",
            f"  Broker         {masked(self.broker_url)}",
            f"  Data and logs  {self.data_dir} (logs/<service>.log, mail/ holds sent mail)",
            *self._locals(),
        ]
        if self.flower:
            lines += [f"  Flower {s:<13} http://127.0.0.1:{FLOWER_PORTS[s]}" for s in SERVICES]
        return [*lines, "", *self._curl(), "", "Press Ctrl-C to stop everything.", ""]

    def _locals(self) -> list[str]:
        found = [
            ("Local Stripe", self.providers.stripe, "http"),
            ("SMTP sink", self.providers.smtp, "smtp"),
            ("Local Twilio", self.providers.twilio, "http"),
        ]
        return [f"  {name:<14} {scheme}://127.0.0.1:{port}" for name, port, scheme in found if port]

    def _curl(self) -> list[str]:
        return [
            "Place an order (`make demo` places a few and prints their timelines):",
            "",
            f"  curl -sS -X POST {self.base_url}/api/v1/orders \\",
            f"    -H 'Authorization: Bearer {self.api_key}' \\",
            "    -H 'Content-Type: application/json' \\",
            f"    -d '{json.dumps(ORDER_EXAMPLE)}'",
            "",
            "Then follow it: curl -sS -H 'Authorization: Bearer "
            f"{self.api_key}' {self.base_url}/api/v1/orders/<order_id>",
        ]
