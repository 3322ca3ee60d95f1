"""The external HTTP API the sync job pulls: JSON pages, blips retried in-call with tenacity."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
from switchboard_shared.blips import retry_blips
from switchboard_shared.failures import ClassifiedError, FailureClass, ProviderError

MAX_PAGES = 1000


class ExternalSource(Protocol):
    def fetch_all(self, url: str) -> list[dict[str, Any]]: ...


class HttpExternalSource:
    """`GET url` answers a JSON list, or `{"items": [...], "next": <url or null>}`."""

    def __init__(self, timeout: float) -> None:
        self.client = httpx.Client(timeout=timeout, follow_redirects=True)

    def fetch_all(self, url: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        next_url: str | None = url
        for _ in range(MAX_PAGES):
            if next_url is None:
                return records
            page = self.fetch_page(next_url)
            if isinstance(page, list):
                return records + page
            records.extend(page.get("items") or [])
            following = page.get("next")
            next_url = str(httpx.URL(next_url).join(following)) if following else None
        raise ClassifiedError(f"more than {MAX_PAGES} pages", failure_class=FailureClass.RESOURCE)

    @retry_blips(attempts=3, max_wait=1.0)
    def fetch_page(self, url: str) -> Any:
        try:
            response = self.client.get(url, headers={"accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise ClassifiedError(f"timed out: {exc}", failure_class=FailureClass.TIMEOUT) from exc
        except httpx.TransportError as exc:
            raise ClassifiedError(
                f"unreachable: {exc}", failure_class=FailureClass.NETWORK
            ) from exc
        if response.status_code >= 400:
            raise ProviderError(
                f"{url} answered {response.status_code}", status=response.status_code
            )
        return response.json()
