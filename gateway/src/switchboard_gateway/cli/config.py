"""Where the gateway is and which API key to present.

Key order: `--api-key`, `SWITCHBOARD_API_KEY`, the first of `SWITCHBOARD_API_KEYS` (the
gateway's own list, handy in the shell that runs it), then the key file `make run` writes
(`<SWITCHBOARD_DATA_DIR or var>/api-key`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
KEY_FILE_NAME = "api-key"


@dataclass(frozen=True)
class CliConfig:
    url: str
    api_key: str | None
    timeout: float = 10.0


def key_file() -> Path:
    return Path(os.environ.get("SWITCHBOARD_DATA_DIR") or "var") / KEY_FILE_NAME


def _key_from_file(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def resolve_api_key(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    if key := os.environ.get("SWITCHBOARD_API_KEY", "").strip():
        return key
    gateway_keys = [k.strip() for k in os.environ.get("SWITCHBOARD_API_KEYS", "").split(",")]
    if first := next((k for k in gateway_keys if k), None):
        return first
    return _key_from_file(key_file())


def resolve(url: str | None, api_key: str | None, timeout: float) -> CliConfig:
    base = url or os.environ.get("SWITCHBOARD_URL") or DEFAULT_URL
    return CliConfig(url=base.rstrip("/"), api_key=resolve_api_key(api_key), timeout=timeout)
