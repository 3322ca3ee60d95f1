"""Failure classification and one retry policy per class (ARCHITECTURE §5)."""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pydantic
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError

from .contracts import UnknownEventType


class FailureClass(StrEnum):
    VALIDATION = "validation"
    TIMEOUT = "timeout"
    NETWORK = "network"
    PROVIDER_4XX = "provider-4xx"
    PROVIDER_5XX = "provider-5xx"
    DATABASE = "database"
    RESOURCE = "resource"
    UNKNOWN = "unknown"


class ClassifiedError(Exception):
    """Raise (or subclass) from adapters to say what class a failure is, and when to retry."""

    failure_class: FailureClass = FailureClass.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        failure_class: FailureClass | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if failure_class is not None:
            self.failure_class = failure_class
        self.retry_after = retry_after


class ValidationFailure(ClassifiedError):
    failure_class = FailureClass.VALIDATION


class ProviderError(ClassifiedError):
    """A provider answered with an HTTP status: 4xx is final, 429 and 5xx are retried."""

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        final = 400 <= status < 500 and status != 429
        super().__init__(
            message,
            failure_class=FailureClass.PROVIDER_4XX if final else FailureClass.PROVIDER_5XX,
            retry_after=retry_after,
        )
        self.status = status


_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.EPIPE,
    errno.ECONNABORTED,
}
_CLASSIFIERS: list[Callable[[BaseException], FailureClass | None]] = []


def register_classifier(fn: Callable[[BaseException], FailureClass | None]) -> None:
    """Adapters teach the kit their SDK's exceptions (stripe, twilio, httpx …)."""
    _CLASSIFIERS.append(fn)


def classify(exc: BaseException) -> FailureClass:
    if isinstance(exc, ClassifiedError):
        return exc.failure_class
    for fn in _CLASSIFIERS:
        found = fn(exc)
        if found is not None:
            return found
    # A value the database cannot hold (a NUL in text, a number out of range, too long for its
    # column) fails the same way on every attempt.
    if isinstance(
        exc,
        pydantic.ValidationError | UnknownEventType | ValueError | TypeError | KeyError | DataError,
    ):
        return FailureClass.VALIDATION
    if isinstance(
        exc,
        SoftTimeLimitExceeded
        | TimeLimitExceeded
        | TimeoutError
        | socket.timeout
        | RedisTimeoutError,
    ):
        return FailureClass.TIMEOUT
    if isinstance(exc, OperationalError | DBAPIError):
        return FailureClass.DATABASE
    if isinstance(exc, ConnectionError | RedisConnectionError | KombuOperationalError):
        return FailureClass.NETWORK
    if isinstance(exc, MemoryError):
        return FailureClass.RESOURCE
    if isinstance(exc, OSError):
        if exc.errno in _NETWORK_ERRNOS:
            return FailureClass.NETWORK
        if exc.errno in {errno.ENOSPC, errno.EMFILE, errno.ENOMEM}:
            return FailureClass.RESOURCE
    return FailureClass.UNKNOWN


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    base_seconds: float
    factor: float = 2.0
    max_seconds: float = 3600.0
    jitter: float = 0.25

    @property
    def retries(self) -> bool:
        return self.max_retries > 0

    def countdown(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff with jitter; a provider's Retry-After wins when longer."""
        delay = min(self.base_seconds * self.factor**attempt, self.max_seconds)
        delay *= 1 + random.uniform(-self.jitter, self.jitter)  # noqa: S311  (jitter, not a secret)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return round(delay, 3)


def policies(base_seconds: float = 60.0, max_attempts: int = 4) -> dict[FailureClass, RetryPolicy]:
    """The default policy table; `base_seconds` (60 → 60/120/240/480 s) is compressed in tests."""
    backoff = RetryPolicy(max_attempts, base_seconds)
    return {
        FailureClass.VALIDATION: RetryPolicy(0, 0),
        FailureClass.PROVIDER_4XX: RetryPolicy(0, 0),
        FailureClass.TIMEOUT: backoff,
        FailureClass.NETWORK: backoff,
        FailureClass.PROVIDER_5XX: backoff,
        FailureClass.DATABASE: RetryPolicy(5, max(base_seconds / 60, 0.05)),
        FailureClass.RESOURCE: RetryPolicy(2, base_seconds),
        FailureClass.UNKNOWN: RetryPolicy(min(max_attempts, 3), base_seconds),
    }


def retry_after_of(exc: BaseException) -> float | None:
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None
