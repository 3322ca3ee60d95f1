"""One beat per service fires each periodic task, however many beat processes run.

Beat is celery-redbeat's scheduler (ADR 0011): the schedule and each entry's last run live in
Redis, and a Redis lock with a TTL elects the one beat that sends. Every tick the holder
extends the lock; the others wait for it. When the holder dies, its lock expires after
`SWITCHBOARD_BEAT_LOCK_SECONDS` and another beat takes over, continuing from the last run
times the dead one recorded, so nothing fires twice and nothing is skipped for long.

What this module adds to redbeat: per-service keys, the embedded broker's unix socket URL,
and a holder that lost its lock (paused past the TTL while another took over) goes back to
waiting instead of crashing or sending alongside the new holder.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from redbeat import RedBeatScheduler
from redis.exceptions import LockError

from .redis_checks import redis_client
from .settings import PlatformSettings

log = logging.getLogger("switchboard.beat")

SCHEDULER = "switchboard_shared.beatlock:LeaderBeatScheduler"


def beat_key_prefix(service: str) -> str:
    return f"switchboard:beat:{service}:"


def redbeat_redis_url(url: str) -> str:
    """redis-py's spelling of the embedded broker's socket URL (`unix://`, not `redis+socket://`)."""
    if url.startswith("redis+socket://"):
        return "unix://" + url.removeprefix("redis+socket://")
    return url


def beat_settings(service: str, platform: PlatformSettings) -> dict[str, Any]:
    """The Celery settings that put a service's beat behind its Redis lock."""
    return {
        "beat_scheduler": SCHEDULER,
        "beat_max_loop_interval": platform.beat_loop_seconds,
        "redbeat_redis_url": redbeat_redis_url(platform.effective_redis_url),
        "redbeat_redis_options": {},  # not the broker's transport options
        "redbeat_key_prefix": beat_key_prefix(service),
        "redbeat_lock_key": beat_key_prefix(service) + "lock",
        "redbeat_lock_timeout": platform.beat_lock_seconds,
    }


class LeaderBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    """redbeat's scheduler, but a holder that lost its lock waits to win it back."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self.lock is not None and not self._still_holding():
            return float(self.max_interval)
        try:
            return float(super().tick(*args, **kwargs))
        except LockError:  # expired between the check and redbeat's extend
            log.warning("beat: lost the beat lock %s", self.lock_key)
            return float(self.max_interval)

    def _still_holding(self) -> bool:
        if self.lock.owned():
            return True
        if self.lock.acquire(blocking=False):
            log.warning("beat: won the beat lock %s back", self.lock_key)
            return True
        log.warning("beat: another beat holds %s; waiting", self.lock_key)
        return False


def main(argv: list[str] | None = None) -> int:
    """`python -m switchboard_shared.beatlock SERVICE`: exit 0 while some beat of SERVICE holds
    its lock (a beat's health check: a standby is healthy while a leader exists)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("service")
    args = parser.parse_args(argv)
    platform = PlatformSettings()
    client = redis_client(platform.effective_redis_url)
    key = beat_key_prefix(args.service) + "lock"
    ttl = int(client.pttl(key))  # type: ignore[arg-type]  # the sync client returns an int
    print(f"{key}: {'held' if ttl > 0 else 'free'} ({ttl} ms)")
    return 0 if ttl > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
