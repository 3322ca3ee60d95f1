"""API-key auth with two classes (ADR 0015): `Authorization: Bearer <key>`.

- admin: `SWITCHBOARD_ADMIN_API_KEYS`, and `SWITCHBOARD_API_KEYS` (which always had full access);
- read-only: `SWITCHBOARD_READONLY_API_KEYS`: reads (GET) only; anything else is 403.

Keys are compared in constant time against every configured key and are never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from switchboard_gateway.api.deps import SettingsDep
from switchboard_gateway.config import GatewaySettings
from switchboard_gateway.key_limits import KeyRateLimits, key_id

bearer_scheme = HTTPBearer(
    auto_error=False,
    description="An API key, sent as a bearer token: an admin key (`SWITCHBOARD_API_KEYS`, "
    "`SWITCHBOARD_ADMIN_API_KEYS`) or a read-only key (`SWITCHBOARD_READONLY_API_KEYS`).",
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Role(StrEnum):
    ADMIN = "admin"
    READ_ONLY = "read-only"


def key_is_valid(presented: str, keys: Sequence[str]) -> bool:
    """Compare against every key in constant time, without stopping at the first match."""
    presented_bytes = presented.encode()
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented_bytes, key.encode())
    return matched


def role_of(presented: str, settings: GatewaySettings) -> Role | None:
    admin = key_is_valid(presented, [*settings.api_keys, *settings.admin_api_keys])
    read_only = key_is_valid(presented, settings.readonly_api_keys)
    if admin:
        return Role.ADMIN
    return Role.READ_ONLY if read_only else None


async def require_api_key(request: Request, settings: SettingsDep, credentials: BearerDep) -> Role:
    role = role_of(credentials.credentials, settings) if credentials else None
    if role is None or credentials is None:
        raise HTTPException(
            status_code=401,
            detail="Missing or invalid API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.api_role = role
    request.state.api_key_id = key = key_id(credentials.credentials)
    write = request.method not in SAFE_METHODS
    if role is Role.READ_ONLY and write:
        raise HTTPException(status_code=403, detail="A read-only API key cannot change anything")
    limits: KeyRateLimits = request.app.state.key_limits
    limits.admit(key, write)
    return role


async def require_admin(role: Annotated[Role, Depends(require_api_key)]) -> None:
    if role is not Role.ADMIN:
        raise HTTPException(status_code=403, detail="This action needs an admin API key")


AdminOnly = Depends(require_admin)


async def masks_personal_data(role: Annotated[Role, Depends(require_api_key)]) -> bool:
    """Read-only keys (dashboards, support) see personal data masked."""
    return role is not Role.ADMIN


MaskPersonalDep = Annotated[bool, Depends(masks_personal_data)]
