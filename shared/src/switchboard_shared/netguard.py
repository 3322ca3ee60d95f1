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
WEB_PORTS = frozenset(DEFAULT_PORTS.values())

# Refused always, even when private addresses are allowed: cloud instance credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)

_NETWORKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local", ("169.254.0.0/16", "fe80::/10")),
    ("site-local", ("fec0::/10",)),  # deprecated (RFC 3879), still routed on some networks
    # A site's own translator (RFC 8215): where it maps to is the site's business, not ours.
    ("local-use NAT64", ("64:ff9b:1::/48",)),
    ("carrier-grade NAT", ("100.64.0.0/10",)),
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    ("reserved", ("240.0.0.0/4",)),
)
REFUSED_NETWORKS = tuple(
    (kind, tuple(ipaddress.ip_network(net) for net in nets)) for kind, nets in _NETWORKS
)
# IPv6 forms whose low 32 bits are the IPv4 address actually reached.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: DNS64 answers, translated
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # RFC 4291, deprecated: ::a.b.c.d


class UnsafeDestination(ValueError):
    """The URL or address is not one we may connect to; `str()` says why."""


@dataclass(frozen=True)
class AddressPolicy:
    """`allow_private` (SWITCHBOARD_ALLOW_PRIVATE_WEBHOOKS=1) opens every non-metadata address.

    `allowed_ports`: the only ports a URL may name (`WEB_PORTS` plus a deploy's own); None
    allows any. Independent of `allow_private`: a private network has its databases too.
    """

    allow_private: bool = False
    allowed_ports: frozenset[int] | None = None

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

    def check_port(self, port: int, host: str) -> None:
        if self.allowed_ports is not None and port not in self.allowed_ports:
            allowed = ", ".join(str(p) for p in sorted(self.allowed_ports))
            raise UnsafeDestination(
                f"{host}: port {port} is not allowed for webhooks (allowed: {allowed})"
            )

    def check(self, address: IPAddress, host: str) -> IPAddress:
        reason = self.refusal(address)
        if reason is not None:
            shown = host if host.strip("[]") == str(address) else f"{host} resolves to {address},"
            inner = unwrap(address)
            carried = f" ({inner})" if inner != address else ""
            raise UnsafeDestination(f"{shown} {reason}{carried}, which webhooks may not reach")
        return address


def unwrap(address: IPAddress) -> IPAddress:
    """An IPv6 address that carries an IPv4 one is judged as that: IPv4-mapped
    (::ffff:127.0.0.1), 6to4, NAT64 (64:ff9b::127.0.0.1) and IPv4-compatible (::127.0.0.1)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return address
    inner = address.ipv4_mapped or address.sixtofour
    if inner is not None:
        return inner
    if address in NAT64_WELL_KNOWN or (address in IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # :: and ::1 stay themselves
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
    """The addresses `host` resolves to, all of them allowed; any refused one refuses the host
    (as does a port the policy does not allow, before anything is looked up)."""
    policy.check_port(port, host)
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
