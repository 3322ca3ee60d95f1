"""SSRF guard for URLs that users hand us (outbound webhooks): where may we connect?

One policy, used twice: by the gateway when an endpoint is registered (a refused URL is a
422) and by the worker at connect time, on the very addresses it then connects to, so a
name that re-resolves elsewhere later (DNS rebinding) is checked again and pinned.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Refused always, even when private addresses are allowed: cloud instance credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)

_NETWORKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("carrier-grade NAT", ("100.64.0.0/10",)),
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    ("reserved", ("240.0.0.0/4",)),
)
REFUSED_NETWORKS = tuple(
    (kind, tuple(ipaddress.ip_network(net) for net in nets)) for kind, nets in _NETWORKS
)


class UnsafeDestination(ValueError):
    """The URL or address is not one we may connect to; `str()` says why."""


@dataclass(frozen=True)
class AddressPolicy:
    """`allow_private` (SWITCHBOARD_ALLOW_PRIVATE_WEBHOOKS=1) opens every non-metadata address."""

    allow_private: bool = False

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` is refused, or None when it may be connected to."""
        address = unwrap(address)
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        if self.allow_private:
            return None
        for kind, networks in REFUSED_NETWORKS:
            if any(address in network for network in networks):
                return f"a {kind} address"
        if not address.is_global:
            return "not a public address"
        return None

    def check(self, address: IPAddress, host: str) -> IPAddress:
        reason = self.refusal(address)
        if reason is not None:
            shown = host if host == str(address) else f"{host} resolves to {address},"
            raise UnsafeDestination(f"{shown} {reason}, which webhooks may not reach")
        return address


def unwrap(address: IPAddress) -> IPAddress:
    """An IPv6 address that carries an IPv4 one (::ffff:127.0.0.1, 6to4) is judged as that."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return inner
    return address


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives (glibc also reads `2130706433`, `0x7f000001`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeDestination(f"{host} does not resolve: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def resolve_checked(
    host: str, port: int, policy: AddressPolicy, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """The addresses `host` resolves to, all of them allowed; any refused one refuses the host."""
    literal = host.strip("[]")
    try:
        address = ipaddress.ip_address(literal)
    except ValueError:
        pass  # a name, or a number the system resolver reads (2130706433)
    else:
        return [policy.check(address, host)]
    addresses = [ipaddress.ip_address(a) for a in resolver(literal, port)]
    if not addresses:
        raise UnsafeDestination(f"{host} does not resolve")
    return [policy.check(address, host) for address in addresses]


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL; any other scheme or a missing host is refused."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeDestination(f"scheme {scheme or '(none)'!r} is not allowed: use https")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise UnsafeDestination(f"bad port: {exc}") from exc
    if not parts.hostname:
        raise UnsafeDestination("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeDestination("credentials in the URL are not allowed")
    return scheme, parts.hostname, port


def check_url(
    url: str, policy: AddressPolicy, resolver: Resolver = system_resolver
) -> list[IPAddress]:
    """Refuse (UnsafeDestination) a URL we must not call; return the addresses it resolves to."""
    _, host, port = split_url(url)
    return resolve_checked(host, port, policy, resolver)
