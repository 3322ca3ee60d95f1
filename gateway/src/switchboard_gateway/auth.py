"""API-key auth: `Authorization: Bearer <key>`, keys from `SWITCHBOARD_API_KEYS`."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from switchboard_gateway.api.deps import SettingsDep

bearer_scheme = HTTPBearer(
    auto_error=False, description="An API key from `SWITCHBOARD_API_KEYS`, sent as a bearer token."
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def key_is_valid(presented: str, keys: Sequence[str]) -> bool:
    """Compare against every key in constant time, without stopping at the first match."""
    presented_bytes = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented_bytes, key.encode())
    return matched


def require_api_key(settings: SettingsDep, credentials: BearerDep) -> None:
    if credentials is None or not key_is_valid(credentials.credentials, settings.api_keys):
        raise HTTPException(
            status_code=401,
            detail="Missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
