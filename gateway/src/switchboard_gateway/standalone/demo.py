"""`make demo`: against a running `make run`, register a supplier, place three orders (one paid
and matched, one whose card localstripe declines, one no supplier serves) and print their
timelines as the gateway shows them."""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from switchboard_gateway.api.orders import ORDER_EXAMPLE
from switchboard_gateway.standalone.runfile import RunFile
from switchboard_gateway.standalone.startup import KEY_FILE

SETTLED = {"matched", "unmatched", "payment_failed", "cancelled", "refunded"}
SUPPLIER = {"name": "Demo Machining", "categories": ["cnc-machining"], "region": "eu-west"}
# localstripe declines this test card at confirm (ARCHITECTURE §8); no supplier makes glass.
DEMO_ORDERS = {
    "paid and matched": {},
    "card declined": {"payment_method": "pm_card_chargeCustomerFail"},
    "no supplier for it": {"category": "glass-blowing"},
}


@dataclass
class Gateway:
    client: httpx.Client

    def create_supplier(self) -> str:
        response = self.client.post("/api/v1/suppliers", json={**SUPPLIER, "capacity": 100})
        response.raise_for_status()
        return str(response.json()["supplier_id"])

    def place(self, changes: dict[str, Any]) -> str:
        response = self.client.post("/api/v1/orders", json={**ORDER_EXAMPLE, **changes})
        response.raise_for_status()
        return str(response.json()["order_id"])

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/orders/{order_id}")
        return response.json() if response.status_code == 200 else {}

    def settle(self, order_id: str, timeout: float) -> dict[str, Any]:
        """The order once its status is final (or as it is when `timeout` runs out)."""
        deadline = time.monotonic() + timeout
        view = self.order(order_id)
        while view.get("status") not in SETTLED and time.monotonic() < deadline:
            time.sleep(0.5)
            view = self.order(order_id)
        return view


def timeline_lines(label: str, view: dict[str, Any]) -> list[str]:
    lines = [f"{label}: {view.get('order_id')} → {view.get('status', 'unknown')}"]
    if view.get("failure_reason"):
        lines.append(f"  reason: {view['failure_reason']}")
    for event in view.get("timeline", []):
        lines.append(f"  {event['time'][11:23]}  {event['type']:<24} from {event['source']}")
    return lines


def connection(data_dir: Path, url: str | None) -> tuple[str, str]:
    """The gateway URL and an API key of the standalone running on `data_dir`."""
    state = RunFile.in_data_dir(data_dir).read()
    base = url or state.get("api_url") or "http://127.0.0.1:8000"
    keys = [k for k in os.environ.get("SWITCHBOARD_API_KEYS", "").split(",") if k.strip()]
    key_file = data_dir / KEY_FILE
    key = keys[0].strip() if keys else key_file.read_text().strip() if key_file.exists() else ""
    if not key:
        raise SystemExit(f"no API key: start `make run` first (it keeps one in {key_file})")
    return str(base), key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SWITCHBOARD_DATA_DIR") or "var")
    )
    parser.add_argument("--url", help="gateway URL (default: the running standalone's)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait per order")
    args = parser.parse_args(argv)
    base, key = connection(args.data_dir, args.url)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        gateway = Gateway(client)
        try:
            print(f"supplier {gateway.create_supplier()} registered (cnc-machining, eu-west)")
            placed = {label: gateway.place(changes) for label, changes in DEMO_ORDERS.items()}
        except httpx.HTTPError as exc:
            print(f"error: {exc} (is `make run` running?)", file=sys.stderr)
            return 1
        for label, order_id in placed.items():
            print("\n".join(["", *timeline_lines(label, gateway.settle(order_id, args.timeout))]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
