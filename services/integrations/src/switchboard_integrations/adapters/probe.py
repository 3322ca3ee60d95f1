"""Is an endpoint reachable? A TCP connect to the address the SSRF guard allows, nothing sent."""

from __future__ import annotations

import socket
from typing import Protocol

from switchboard_shared.netguard import (
    AddressPolicy,
    Resolver,
    UnsafeDestination,
    resolve_checked,
    split_url,
    system_resolver,
)


class EndpointProbe(Protocol):
    def problem(self, url: str) -> str | None:
        """None when reachable, else why not."""


class TcpProbe:
    def __init__(
        self, policy: AddressPolicy, timeout: float, resolver: Resolver = system_resolver
    ) -> None:
        self.policy = policy
        self.timeout = timeout
        self.resolver = resolver

    def problem(self, url: str) -> str | None:
        try:
            _, host, port = split_url(url)
            address = resolve_checked(host, port, self.policy, self.resolver)[0]
            with socket.create_connection((str(address), port), self.timeout):
                return None
        except UnsafeDestination as exc:
            return f"refused: {exc}"
        except OSError as exc:
            return f"unreachable: {exc}"
