"""Short in-call retries (tenacity) for blips; anything longer is a Celery retry, never a sleep."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from .failures import FailureClass, classify

F = TypeVar("F", bound=Callable[..., Any])
TRANSIENT = {FailureClass.NETWORK, FailureClass.TIMEOUT, FailureClass.PROVIDER_5XX}


def _is_blip(exc: BaseException) -> bool:
    return classify(exc) in TRANSIENT and getattr(exc, "retry_after", None) is None


def retry_blips(attempts: int = 3, max_wait: float = 1.0) -> Callable[[F], F]:
    """Retry a transient failure a few times within ~a second; then let the failure policy decide.

    Only wrap calls that are safe to repeat (idempotency key, or no side effect on failure).
    """
    return retry(  # type: ignore[return-value]
        retry=retry_if_exception(_is_blip),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=0.1, max=max_wait, jitter=0.1),
        reraise=True,
    )
