"""Start-up checks of the Redis a service depends on."""

from __future__ import annotations

from typing import Any, cast

import redis


class UnsafeRedis(RuntimeError):
    pass


def redis_client(url: str) -> redis.Redis:
    if url.startswith("redis+socket://"):
        return redis.Redis(
            unix_socket_path=url.removeprefix("redis+socket://"), decode_responses=True
        )
    return redis.Redis.from_url(url, decode_responses=True)


def require_noeviction(url: str) -> None:
    """Refuse a Redis that may evict keys: kombu's bindings and queues would vanish silently."""
    info = cast(dict[str, Any], redis_client(url).info("memory"))
    policy = info.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        raise UnsafeRedis(
            f"Redis at {url.split('@')[-1]} has maxmemory-policy={policy!r}; Switchboard needs "
            "'noeviction' (an evicted kombu binding or queue drops messages without a trace)."
        )
