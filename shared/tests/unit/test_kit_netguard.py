"""The SSRF guard's address policy, with the system resolver and with scripted ones."""

from __future__ import annotations

import pytest
from switchboard_shared.netguard import WEB_PORTS, AddressPolicy, UnsafeDestination, check_url

STRICT = AddressPolicy(allow_private=False)
OPEN = AddressPolicy(allow_private=True)


def resolving_to(*addresses: str):  # type: ignore[no-untyped-def]
    return lambda host, port: list(addresses)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.255.3.4/hook", "loopback"),
        ("http://10.0.0.5/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("http://172.31.255.254/hook", "private"),
        ("http://192.168.1.10/hook", "private"),
        ("http://100.64.0.1/hook", "carrier-grade NAT"),
        ("http://100.127.255.254/hook", "carrier-grade NAT"),
        ("http://169.254.1.1/hook", "link-local"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://0.1.2.3/hook", "unspecified"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://[::ffff:a9fe:a9fe]/hook", "metadata"),
        ("http://[fd00:ec2::254]/hook", "metadata"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fc00::1]/hook", "private"),
        ("http://localhost/hook", "loopback"),
        ("http://localhost:8080/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),
        ("http://0x7f000001/hook", "loopback"),
        ("http://0177.0.0.1/hook", "loopback"),
        ("http://[64:ff9b::7f00:1]/hook", "loopback"),
        ("http://[64:ff9b::a00:5]/hook", "private"),
        ("http://[64:ff9b::a9fe:a9fe]/hook", "metadata"),
        ("http://[64:ff9b:1::7f00:1]/hook", "local-use NAT64"),
        ("http://[::7f00:1]/hook", "loopback"),
        ("http://[::a9fe:a9fe]/hook", "metadata"),
        ("http://[fec0::1]/hook", "site-local"),
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_refused(url: str, why: str) -> None:
    with pytest.raises(UnsafeDestination, match=why):
        check_url(url, STRICT)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://example.com/", "hook"]
)
def test_only_http_and_https_are_allowed(url: str) -> None:
    with pytest.raises(UnsafeDestination, match="scheme"):
        check_url(url, OPEN)


def test_credentials_in_the_url_and_missing_hosts_are_refused() -> None:
    with pytest.raises(UnsafeDestination, match="credentials"):
        check_url("https://user:pw@hooks.example.com/", OPEN, resolving_to("93.184.216.34"))
    with pytest.raises(UnsafeDestination, match="no host"):
        check_url("https:///path", OPEN)


def test_a_public_address_is_allowed() -> None:
    assert [str(a) for a in check_url("https://93.184.216.34/hook", STRICT)] == ["93.184.216.34"]
    found = check_url("https://hooks.example.com/x", STRICT, resolving_to("93.184.216.34"))
    assert [str(a) for a in found] == ["93.184.216.34"]


def test_a_public_address_behind_the_nat64_prefix_is_allowed() -> None:
    assert check_url("https://[64:ff9b::5db8:d822]/hook", STRICT)


def test_only_allowed_ports_pass_when_the_policy_names_them() -> None:
    web = AddressPolicy(allowed_ports=WEB_PORTS | {8443})
    for url in ("https://93.184.216.34/", "http://93.184.216.34/", "https://93.184.216.34:8443/"):
        assert check_url(url, web)
    for url in ("http://93.184.216.34:6379/", "https://93.184.216.34:8080/"):
        with pytest.raises(UnsafeDestination, match="port"):
            check_url(url, web)
    assert check_url("http://93.184.216.34:6379/", STRICT)  # no port list: any port


def test_a_name_with_any_private_address_among_its_answers_is_refused() -> None:
    with pytest.raises(UnsafeDestination, match=r"rebind.example resolves to 10\.1\.2\.3"):
        check_url("https://rebind.example/", STRICT, resolving_to("93.184.216.34", "10.1.2.3"))


def test_the_flag_opens_private_addresses_but_never_metadata_ones() -> None:
    for url in (
        "http://127.0.0.1:9/h",
        "http://10.0.0.5/h",
        "http://100.64.1.1/h",
        "http://localhost/h",
    ):
        assert check_url(url, OPEN)
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
    ):
        with pytest.raises(UnsafeDestination, match="metadata"):
            check_url(url, OPEN)
    with pytest.raises(UnsafeDestination, match="metadata"):
        check_url("http://metadata.internal/", OPEN, resolving_to("169.254.169.254"))


def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeDestination, match="does not resolve"):
        check_url("https://no-such-host.invalid/", OPEN)
