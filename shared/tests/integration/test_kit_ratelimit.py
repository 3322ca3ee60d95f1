"""The shared token bucket on a real Redis: several clients, one limit."""

from __future__ import annotations

import threading
import time

import pytest
from switchboard_shared.ratelimit import Rate, RateLimited, TokenBucket, Unlimited, limiter_for
from switchboard_shared.redis_checks import redis_client

pytestmark = pytest.mark.integration


def test_rates_parse_and_off_means_unlimited() -> None:
    assert Rate.parse("50/m") == Rate(50, 60)
    assert Rate.parse("20/5s") == Rate(20, 5)
    assert Rate.parse("1000/h").per_second == pytest.approx(1000 / 3600)
    for off in ("", "0", "off", "0/m"):
        assert Rate.parse(off) is None
    with pytest.raises(ValueError, match="50/m"):
        Rate.parse("fifty a minute")
    assert isinstance(limiter_for(lambda: None, "x", "off"), Unlimited)


def test_a_bucket_grants_one_token_per_interval_and_says_how_long_to_wait(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "t1", Rate(10, 1))  # one token every 0.1 s
    assert bucket.try_acquire() == 0
    wait = bucket.try_acquire()
    assert 0 < wait <= 0.1
    with pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert 0 < info.value.retry_after <= 0.1
    time.sleep(wait + 0.02)
    assert bucket.try_acquire() == 0


def test_many_clients_together_never_exceed_the_limit_in_any_window(redis_url: str) -> None:
    rate = Rate(20, 1.0)  # 20 per second, evenly spaced (burst 1)
    granted: list[float] = []
    lock = threading.Lock()

    def hammer() -> None:
        bucket = TokenBucket(lambda: client, "shared", rate)  # its own bucket object, same key
        client = redis_client(redis_url)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            if bucket.try_acquire() == 0:
                with lock:
                    granted.append(time.monotonic())

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    granted.sort()
    assert 30 <= len(granted) <= 41  # 2 s at 20/s (+1: a window holds both of its ends)
    for i, start in enumerate(granted):
        in_window = [t for t in granted[i:] if t < start + rate.period]
        assert len(in_window) <= rate.limit + 1  # +1: client clocks vs Redis's clock
