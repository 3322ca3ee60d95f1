"""Where a service's Flower listens and with which credentials; refuses unsafe set-ups."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

FLOWER_PORTS = {
    "email": 5551,
    "payments": 5552,
    "orders": 5553,
    "reports": 5554,
    "integrations": 5555,
}
DEFAULT_ADDRESS = "127.0.0.1"


class Refused(Exception):
    """The Flower would be reachable without credentials (or they are malformed)."""


@dataclass(frozen=True)
class FlowerPlan:
    service: str
    app: str
    address: str
    port: int
    basic_auth: tuple[str, ...]
    standalone: bool

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name, or empty (every interface)


def parse_basic_auth(value: str) -> tuple[str, ...]:
    """`user:password[,user2:password2]`; both parts must be non-empty."""
    pairs = tuple(pair.strip() for pair in value.split(",") if pair.strip())
    for pair in pairs:
        user, _, password = pair.partition(":")
        if not user or not password:
            raise Refused("basic auth must be user:password (comma-separated for several users)")
    return pairs


def _setting(env: Mapping[str, str], service: str, name: str) -> str:
    """`<SERVICE>_FLOWER_<NAME>` first, then Flower's own `FLOWER_<NAME>`."""
    return env.get(f"{service.upper()}_FLOWER_{name}") or env.get(f"FLOWER_{name}") or ""


def plan_flower(
    service: str,
    env: Mapping[str, str],
    *,
    port: int | None = None,
    address: str | None = None,
    standalone: bool = False,
) -> FlowerPlan:
    chosen_port = port or int(_setting(env, service, "PORT") or FLOWER_PORTS.get(service, 0))
    if not chosen_port:
        raise Refused(f"no default Flower port for {service!r}: pass --port")
    return FlowerPlan(
        service=service,
        app=f"switchboard_{service}.app",
        address=address or _setting(env, service, "ADDRESS") or DEFAULT_ADDRESS,
        port=chosen_port,
        basic_auth=parse_basic_auth(_setting(env, service, "BASIC_AUTH")),
        standalone=standalone,
    )


def check(plan: FlowerPlan) -> None:
    """Without credentials only a standalone Flower on a loopback address may start."""
    if plan.basic_auth:
        return
    where = f"{plan.address}:{plan.port}"
    if not plan.standalone:
        raise Refused(
            f"refusing to start {plan.service}'s Flower on {where} without credentials: set "
            f"{plan.service.upper()}_FLOWER_BASIC_AUTH or FLOWER_BASIC_AUTH=user:password "
            "(or pass --standalone to run it on loopback only, without auth)"
        )
    if not is_loopback(plan.address):
        raise Refused(
            f"refusing to start {plan.service}'s Flower on {where} without credentials: "
            "standalone mode without auth binds to loopback only (127.0.0.1 or ::1)"
        )
