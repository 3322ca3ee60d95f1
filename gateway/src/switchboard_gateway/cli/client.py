"""The gateway over HTTP, with every failure turned into an exit code scripts can rely on."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from enum import IntEnum
from typing import Any

import httpx

from switchboard_gateway.cli.config import CliConfig, key_file

API = "/api/v1"


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a task failed, the platform is not healthy, or the thing asked for is not there
    USAGE = 2  # bad options or arguments, including input the gateway rejected (400/413/422)
    UNREACHABLE = 3  # no answer from the gateway (connection refused, timeout)
    AUTH = 4  # missing, wrong or insufficient API key (401/403)


class CliError(Exception):
    """Printed on stderr by `main`; the process exits with `exit_code`."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(CliError):
    exit_code = ExitCode.UNREACHABLE


class AuthFailed(CliError):
    exit_code = ExitCode.AUTH


class Rejected(CliError):
    exit_code = ExitCode.USAGE


class NotFound(CliError):
    exit_code = ExitCode.FAILED


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase
    lines = [str(error.get("message") or response.reason_phrase)]
    for detail in error.get("details") or []:
        lines.append(f"  {detail.get('field', '?')}: {detail.get('message', '')}")
    return "\n".join(lines)


def error_for(response: httpx.Response) -> CliError:
    status = response.status_code
    text = (
        f"{response.request.method} {response.request.url.path} → {status}: {_error_text(response)}"
    )
    if status == 401:
        return AuthFailed(
            f"{text}\nset SWITCHBOARD_API_KEY, pass --api-key, or run `make run` (it writes {key_file()})"
        )
    if status == 403:
        return AuthFailed(text)
    if status in (400, 413, 422):
        return Rejected(text)
    if status == 404:
        return NotFound(text)
    return CliError(text)


class GatewayClient:
    def __init__(self, config: CliConfig, transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self.config = config
        self._http = httpx.Client(
            base_url=config.url, headers=headers, timeout=config.timeout, transport=transport
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        accept: Collection[int] = (),
    ) -> httpx.Response:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, API + path, params=query, json=json)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"gateway at {self.config.url} unreachable: {exc or type(exc).__name__}"
            ) from exc
        if response.is_success or response.status_code in accept:
            return response
        raise error_for(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        response = self.request("POST", path, params=params, json=json)
        return response.json() if response.content else {}

    def delete(self, path: str, **params: Any) -> Any:
        response = self.request("DELETE", path, params=params)
        return response.json() if response.content else {}

    def close(self) -> None:
        self._http.close()
