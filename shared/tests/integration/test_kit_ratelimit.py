"""The shared token bucket on a real Redis: several clients, one limit."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import pytest
from switchboard_shared.ratelimit import (
    Rate,
    RateLimited,
    TokenBucket,
    Unlimited,
    limiter_for,
    reservations,
    slots_from_header,
)
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


def redis_now(client: Any) -> float:
    seconds, micros = client.time()
    return float(seconds + micros / 1_000_000)


def reserved(bucket: TokenBucket, n: int) -> list[float]:
    """Reserve `n` slots; each call must be denied with a slot."""
    slots = []
    for _ in range(n):
        verdict = bucket.take(reserve=True)
        assert not verdict.granted and verdict.slot is not None
        slots.append(verdict.slot)
    return slots


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


def test_conforming_calls_go_and_a_denied_one_leaves_the_schedule_alone(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "conform", Rate(10, 1))
    assert bucket.take(reserve=False).granted
    first = bucket.take(reserve=False)
    second = bucket.take(reserve=False)
    assert not first.granted and first.slot is None and 0 < second.wait <= first.wait <= 0.1
    time.sleep(first.wait + 0.01)
    assert bucket.take(reserve=False).granted


def test_a_backlog_gets_distinct_slots_one_interval_apart(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "backlog", Rate(5, 1))  # 0.2 s apart
    start = redis_now(client)
    assert bucket.take(reserve=True).granted
    slots = reserved(bucket, 6)
    assert gaps(slots) == pytest.approx([0.2] * 5, abs=1e-4)
    assert slots[0] == pytest.approx(start + 0.2, abs=0.05)
    last = bucket.take(reserve=True)
    assert last.slot is not None
    assert last.wait == pytest.approx(last.slot - redis_now(client), abs=0.05)


def test_a_slot_presented_on_time_goes_without_taking_another(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "present", Rate(2, 1))  # 0.5 s apart
    assert bucket.take().granted
    with reservations({}, max_wait=60) as run, pytest.raises(RateLimited) as info:
        bucket.acquire()
    slot = info.value.slot
    assert slot is not None and run.held == {bucket.key: slot.at}
    assert info.value.retry_after == pytest.approx(0.5, abs=0.05)

    time.sleep(info.value.retry_after)
    with reservations(run.held, max_wait=60) as again:
        bucket.acquire()  # the slot: no script call, nothing new taken
        assert again.held == {}
    fresh = bucket.take(reserve=True)  # still behind the slot just used
    assert fresh.slot == pytest.approx(slot.at + 0.5, abs=1e-4)


def test_a_slot_presented_too_late_takes_the_schedule_afresh(redis_url: str) -> None:
    """Going on a long-past slot could put two sends closer than the limit allows."""
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "late", Rate(5, 1))  # 0.2 s apart
    assert bucket.take().granted
    owed = bucket.take(reserve=True)
    assert owed.slot is not None
    behind = bucket.take(reserve=True)  # another message queued right behind it
    assert behind.slot is not None

    time.sleep(owed.wait + 0.15)  # more than half an interval past the slot
    with reservations({bucket.key: owed.slot}, max_wait=60), pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert info.value.slot is not None and info.value.slot.at == pytest.approx(
        behind.slot + 0.2, abs=1e-4
    ), "a new slot behind the queue, not a send on the stale one"


def test_a_slot_presented_early_waits_again_for_the_same_slot(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "early", Rate(2, 1))  # 0.5 s apart
    assert bucket.take().granted
    reserved = bucket.take(reserve=True)
    assert reserved.slot is not None
    with reservations({bucket.key: reserved.slot}, max_wait=60) as run:
        with pytest.raises(RateLimited) as info:
            bucket.acquire()
        assert run.held == {bucket.key: reserved.slot}  # still owed to the message
    assert info.value.slot is not None and info.value.slot.at == reserved.slot
    assert 0.3 < info.value.retry_after <= 0.5
    after = bucket.take(reserve=True)  # no second reservation was made for it
    assert after.slot == pytest.approx(reserved.slot + 0.5, abs=1e-4)


def test_no_slot_further_ahead_than_max_wait(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "bound", Rate(1, 1))
    assert bucket.take().granted
    assert bucket.take(reserve=True, max_wait=2.5).slot is not None  # 1 s ahead
    assert bucket.take(reserve=True, max_wait=2.5).slot is not None  # 2 s ahead
    refused = bucket.take(reserve=True, max_wait=2.5)  # 3 s ahead: not reserved
    assert refused.slot is None and refused.wait == pytest.approx(3, abs=0.05)
    with reservations({}, max_wait=2.5) as run, pytest.raises(RateLimited) as info:
        bucket.acquire()
    assert info.value.slot is None and run.held == {}
    assert info.value.retry_after == 2.5  # told to come back at the bound


def test_outside_a_kit_run_nothing_is_reserved(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "outside", Rate(1, 1))
    assert bucket.take().granted
    with pytest.raises(RateLimited) as info:
        bucket.acquire()
    with reservations({}, max_wait=60) as run, pytest.raises(RateLimited) as unreserved:
        bucket.acquire(reserve=False)
    assert info.value.slot is None and unreserved.value.slot is None and run.held == {}
    assert bucket.take(reserve=True).slot == pytest.approx(redis_now(client) + 1, abs=0.05)


def test_a_burst_goes_at_once_then_slots_are_spaced(redis_url: str) -> None:
    client = redis_client(redis_url)
    bucket = TokenBucket(lambda: client, "burst", Rate(10, 1), burst=3)
    assert [bucket.take(reserve=True).granted for _ in range(3)] == [True] * 3
    slots = reserved(bucket, 3)
    assert gaps(slots) == pytest.approx([0.1, 0.1], abs=1e-4)
    assert slots[0] - redis_now(client) <= 0.1


def test_slots_in_a_header_are_read_defensively() -> None:
    assert slots_from_header({"k": 12.5, "j": 3}) == {"k": 12.5, "j": 3.0}
    assert slots_from_header({"k": "soon", "j": None, "b": True}) == {}
    assert slots_from_header(None) == {} and slots_from_header([1, 2]) == {}
    assert isinstance(Unlimited().acquire(reserve=False), type(None))
