"""The external HTTP API the sync job pulls: JSON pages, blips retried in-call with tenacity.

The operator chose the sync URL, but the server behind it chooses its redirects and `next`
links: those may only lead back to the configured origin (scheme, host and port). Anything else
(a cloud metadata address, an internal service) is refused before a connection is made, and the
sync fails with the reason. Every connection goes through the webhooks' guarded transport:
metadata addresses are refused even as the configured host, and each host name is resolved
once per sync and that address used for every request (no DNS rebinding between pages).

Each page is read streamed and refused once its body passes `max_response_bytes`
(INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES): a hostile or broken source cannot stream gigabytes into
the worker's memory. Only gzip is asked for, and it is inflated within the same cap (no
decompression bomb); any other content coding is refused.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import httpx
from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass, ProviderError
from switchboard_shared.netguard import (
    AddressPolicy,
    Resolver,
    UnsafeDestination,
    split_url,
    system_resolver,
)

from .pinned_http import GuardedTransport

MAX_PAGES = 1000
MAX_REDIRECTS = 5
DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024
# Only what `CappedBody` inflates within its cap; httpx would also offer deflate (and br, zstd).
HEADERS = {"accept": "application/json", "accept-encoding": "gzip"}
# The configured origin may be on the operator's own network; metadata addresses never are.
SYNC_POLICY = AddressPolicy(allow_private=True)
Origin = tuple[str, str, int]


class ExternalSource(Protocol):
    def fetch_all(self, url: str) -> list[dict[str, Any]]: ...


class PinnedResolver:
    """The first answer per (host, port), for the rest of one sync."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.answers: dict[tuple[str, int], list[str]] = {}

    def __call__(self, host: str, port: int) -> list[str]:
        if (host, port) not in self.answers:
            self.answers[host, port] = self.resolver(host, port)
        return self.answers[host, port]


def refused(reason: str) -> ClassifiedError:
    return ClassifiedError(f"refused: {reason}", failure_class=FailureClass.VALIDATION)


def origin_of(url: str) -> Origin:
    try:
        return split_url(url)
    except UnsafeDestination as exc:
        raise refused(f"{url}: {exc}") from exc


def same_origin(url: str, origin: Origin, why: str) -> str:
    """`url`, when it stays on `origin`; refused otherwise (`why`: where the URL came from)."""
    if origin_of(url) != origin:
        scheme, host, port = origin
        raise refused(
            f"{why} {url} leaves {scheme}://{host}:{port}, the origin of INTEGRATIONS_SYNC_URL"
        )
    return url


class CappedBody:
    """A response body taken chunk by chunk (gzip inflated as it comes), refused as soon as
    it passes `limit` bytes: no more than `limit` plus one chunk is ever held."""

    def __init__(self, url: str, limit: int, encoding: str) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip"):
            raise refused(f"{url} answered in content-encoding {encoding!r}; only gzip is asked")
        self.url, self.limit = url, limit
        self.data = bytearray()
        self.gunzip = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None

    def feed(self, raw: bytes) -> None:
        if self.gunzip is None:
            return self._keep(raw)
        try:
            while raw:  # at most what still fits, plus a byte to notice the overflow
                self._keep(self.gunzip.decompress(raw, self.limit - len(self.data) + 1))
                raw = self.gunzip.unconsumed_tail
        except zlib.error as exc:
            raise ClassifiedError(
                f"{self.url} sent a broken gzip body: {exc}", failure_class=FailureClass.VALIDATION
            ) from exc
        return None

    def _keep(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.limit:
            raise ClassifiedError(
                f"response too large: more than {self.limit} bytes "
                f"(INTEGRATIONS_SYNC_MAX_RESPONSE_BYTES) from {self.url}",
                failure_class=FailureClass.RESOURCE,
            )
        self.data.extend(chunk)


class HttpExternalSource:
    """`GET url` answers a JSON list, or `{"items": [...], "next": <url or null>}`."""

    def __init__(
        self,
        timeout: float,
        resolver: Resolver = system_resolver,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.timeout = timeout
        self.resolver = resolver
        self.max_response_bytes = max_response_bytes

    def fetch_all(self, url: str) -> list[dict[str, Any]]:
        origin = origin_of(url)
        records: list[dict[str, Any]] = []
        next_url: str | None = url
        with self._client() as client:
            for _ in range(MAX_PAGES):
                if next_url is None:
                    return records
                page = self.fetch_page(client, next_url, origin)
                if isinstance(page, list):
                    return records + page
                records.extend(page.get("items") or [])
                following = page.get("next")
                joined = str(httpx.URL(next_url).join(following)) if following else None
                next_url = joined and same_origin(joined, origin, "the next link")
        raise ClassifiedError(f"more than {MAX_PAGES} pages", failure_class=FailureClass.RESOURCE)

    def _client(self) -> httpx.Client:
        """A client per sync: its connections, and its pinned addresses, last one sync."""
        transport = GuardedTransport(SYNC_POLICY, resolver=PinnedResolver(self.resolver))
        return httpx.Client(transport=transport, timeout=self.timeout, follow_redirects=False)

    @retry_blips(attempts=3, max_wait=1.0)
    def fetch_page(self, client: httpx.Client, url: str, origin: Origin) -> Any:
        response = self._follow(client, url, origin)
        try:
            if response.status_code >= 400:
                raise ProviderError(
                    f"{url} answered {response.status_code}", status=response.status_code
                )
            return json.loads(self._read_capped(response, url))
        finally:
            response.close()

    def _follow(self, client: httpx.Client, url: str, origin: Origin) -> httpx.Response:
        """The response at the end of `url`'s redirects (each on `origin`), body still unread."""
        response, redirects = self._get(client, url), 0
        while response.is_redirect:
            response.close()
            if redirects == MAX_REDIRECTS:
                raise refused(f"{url}: more than {MAX_REDIRECTS} redirects")
            redirects += 1
            target = str(response.url.join(response.headers["location"]))
            response = self._get(client, same_origin(target, origin, f"{url} redirects to"))
        return response

    def _read_capped(self, response: httpx.Response, url: str) -> bytearray:
        body = CappedBody(
            url, self.max_response_bytes, response.headers.get("content-encoding", "")
        )
        with transport_errors():
            for chunk in response.iter_raw():
                body.feed(chunk)
        return body.data

    @staticmethod
    def _get(client: httpx.Client, url: str) -> httpx.Response:
        with transport_errors():
            return client.send(client.build_request("GET", url, headers=HEADERS), stream=True)


@contextmanager
def transport_errors() -> Iterator[None]:
    """httpx's and the guard's failures, as the kit's failure classes."""
    try:
        yield
    except UnsafeDestination as exc:
        raise refused(str(exc)) from exc
    except httpx.TimeoutException as exc:
        raise ClassifiedError(f"timed out: {exc}", failure_class=FailureClass.TIMEOUT) from exc
    except httpx.TransportError as exc:
        raise ClassifiedError(f"unreachable: {exc}", failure_class=FailureClass.NETWORK) from exc
