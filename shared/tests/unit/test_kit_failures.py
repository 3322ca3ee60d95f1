"""Failure classification and the retry policy of each class (ARCHITECTURE §5)."""

from __future__ import annotations

import errno
import random

import pydantic
import pytest
from celery.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, OperationalError
from switchboard_shared import failures
from switchboard_shared.contracts import UnknownEventType
from switchboard_shared.contracts.payments import PaymentSucceeded
from switchboard_shared.failures import (
    ClassifiedError,
    FailureClass,
    ProviderError,
    RetryPolicy,
    ValidationFailure,
    classify,
    policies,
    register_classifier,
    retry_after_of,
)


def pydantic_error() -> pydantic.ValidationError:
    try:
        PaymentSucceeded.model_validate({"payment_id": "p"})
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("no validation error")


class StripeLikeRateLimit(Exception):
    pass


CASES = [
    ("pydantic ValidationError", pydantic_error(), FailureClass.VALIDATION),
    ("ValidationFailure", ValidationFailure("bad order"), FailureClass.VALIDATION),
    ("unknown event type", UnknownEventType("what-happened"), FailureClass.VALIDATION),
    (
        "ConnectionRefusedError",
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        FailureClass.NETWORK,
    ),
    ("ConnectionResetError", ConnectionResetError("reset"), FailureClass.NETWORK),
    ("OSError ECONNRESET", OSError(errno.ECONNRESET, "reset"), FailureClass.NETWORK),
    ("redis ConnectionError", RedisConnectionError("down"), FailureClass.NETWORK),
    ("kombu OperationalError", KombuOperationalError("broker gone"), FailureClass.NETWORK),
    ("TimeoutError", TimeoutError("slow"), FailureClass.TIMEOUT),
    ("SoftTimeLimitExceeded", SoftTimeLimitExceeded(), FailureClass.TIMEOUT),
    ("redis TimeoutError", RedisTimeoutError("slow"), FailureClass.TIMEOUT),
    (
        "sqlalchemy OperationalError",
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        FailureClass.DATABASE,
    ),
    (
        "sqlalchemy DataError (a NUL in text: the same on every attempt)",
        DataError("INSERT", {}, Exception("cannot contain NUL (0x00) bytes")),
        FailureClass.VALIDATION,
    ),
    ("ProviderError 404", ProviderError("no such intent", status=404), FailureClass.PROVIDER_4XX),
    ("ProviderError 400", ProviderError("bad request", status=400), FailureClass.PROVIDER_4XX),
    ("ProviderError 429", ProviderError("slow down", status=429), FailureClass.PROVIDER_5XX),
    ("ProviderError 503", ProviderError("unavailable", status=503), FailureClass.PROVIDER_5XX),
    ("ProviderError 500", ProviderError("oops", status=500), FailureClass.PROVIDER_5XX),
    ("MemoryError", MemoryError(), FailureClass.RESOURCE),
    ("OSError ENOSPC", OSError(errno.ENOSPC, "disk full"), FailureClass.RESOURCE),
    ("RuntimeError", RuntimeError("who knows"), FailureClass.UNKNOWN),
    (
        "ClassifiedError with explicit class",
        ClassifiedError("x", failure_class=FailureClass.DATABASE),
        FailureClass.DATABASE,
    ),
    ("bare ClassifiedError", ClassifiedError("x"), FailureClass.UNKNOWN),
]


@pytest.mark.parametrize(
    ("exc", "expected"), [(c[1], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_exception_is_classified(exc: BaseException, expected: FailureClass) -> None:
    assert classify(exc) is expected


def test_a_registered_classifier_teaches_the_kit_an_sdk_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "_CLASSIFIERS", [])
    assert classify(StripeLikeRateLimit()) is FailureClass.UNKNOWN

    register_classifier(
        lambda exc: FailureClass.PROVIDER_5XX if isinstance(exc, StripeLikeRateLimit) else None
    )

    assert classify(StripeLikeRateLimit()) is FailureClass.PROVIDER_5XX
    assert classify(RuntimeError()) is FailureClass.UNKNOWN, "a classifier answering None defers"
    assert classify(MemoryError()) is FailureClass.RESOURCE


def test_a_registered_classifier_wins_over_the_built_in_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "_CLASSIFIERS", [])
    register_classifier(
        lambda exc: FailureClass.PROVIDER_4XX if isinstance(exc, KeyError) else None
    )
    assert classify(KeyError("card")) is FailureClass.PROVIDER_4XX


def test_provider_error_keeps_status_and_retry_after() -> None:
    exc = ProviderError("slow down", status=429, retry_after=30)
    assert exc.status == 429
    assert retry_after_of(exc) == 30.0
    assert retry_after_of(RuntimeError()) is None


# --- retry policy ----------------------------------------------------------------------


def test_backoff_without_jitter_is_60_120_240_480() -> None:
    policy = RetryPolicy(4, 60, jitter=0)
    assert [policy.countdown(attempt) for attempt in range(4)] == [60, 120, 240, 480]


@pytest.mark.parametrize(
    "failure", [FailureClass.NETWORK, FailureClass.PROVIDER_5XX, FailureClass.TIMEOUT]
)
def test_default_backoff_is_60_120_240_480_within_jitter_bounds(failure: FailureClass) -> None:
    random.seed(7)
    policy = policies()[failure]
    assert policy.max_retries == 4
    for attempt, nominal in enumerate([60, 120, 240, 480]):
        samples = [policy.countdown(attempt) for _ in range(300)]
        assert min(samples) >= nominal * 0.75
        assert max(samples) <= nominal * 1.25
        assert len(set(samples)) > 50, "jitter spreads retries apart"
        assert abs(sum(samples) / len(samples) - nominal) < nominal * 0.05


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(20, 60, jitter=0, max_seconds=3600)
    assert policy.countdown(15) == 3600


def test_retry_after_longer_than_the_backoff_is_honoured() -> None:
    policy = policies()[FailureClass.PROVIDER_5XX]
    assert policy.countdown(0, retry_after=900) == 900


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    policy = policies()[FailureClass.PROVIDER_5XX]
    assert policy.countdown(2, retry_after=5) >= 240 * 0.75


@pytest.mark.parametrize("failure", [FailureClass.VALIDATION, FailureClass.PROVIDER_4XX])
def test_final_failures_never_retry(failure: FailureClass) -> None:
    policy = policies()[failure]
    assert not policy.retries
    assert policy.max_retries == 0


def test_database_transients_retry_quickly() -> None:
    policy = policies()[FailureClass.DATABASE]
    assert policy.retries
    assert policy.countdown(0) <= 1.25
    assert policy.max_retries >= 3


def test_every_class_has_a_policy() -> None:
    assert set(policies()) == set(FailureClass)


def test_compressed_base_scales_the_whole_table() -> None:
    policy = policies(base_seconds=0.1)[FailureClass.NETWORK]
    assert 0.075 <= policy.countdown(0) <= 0.125
    assert policies(base_seconds=0.1)[FailureClass.DATABASE].base_seconds == pytest.approx(0.05)
