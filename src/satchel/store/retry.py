"""Retrying transient store errors and translating the rest at the boundary.

Every remote backend runs each request through :func:`call` with a *classifier* of its own that
sorts the library's exception into an :class:`~satchel.errorcodes.ErrorKind` (reading its
cloud's error-code table in :mod:`satchel.errorcodes`, which the reference handlers read too):

* ``TRANSIENT`` (timeouts, connection resets, 5xx, throttling): retried with exponential
  backoff and full jitter (:class:`RetryPolicy`); still failing afterwards becomes
  :class:`~satchel.errors.StoreUnavailableError`.
* ``PERMISSION``: :class:`~satchel.errors.StoreAccessError` at once.
* ``BUCKET_MISSING``: :class:`~satchel.errors.StoreNotFoundError` at once.
* ``NOT_FOUND``: a plain ``FileNotFoundError`` (the store contract for an absent key).
* ``CONFLICT``: a failed precondition, returned to the backend as :class:`PreconditionFailed`.
* ``OTHER``: re-raised unchanged.

The client libraries retry some errors themselves; this layer catches what gets through.
Retrying a conditional write is safe because the backends settle an ambiguous conflict by
reading the key back (see :mod:`satchel.store.remote`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from satchel.errorcodes import ErrorKind
from satchel.errors import StoreAccessError, StoreNotFoundError, StoreUnavailableError

__all__ = ["Classifier", "ErrorKind", "PreconditionFailed", "RetryPolicy", "bucket_missing", "call"]

T = TypeVar("T")


class PreconditionFailed(Exception):
    """A conditional write found the key in another state (internal to the backends)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient errors are retried.

    Attributes:
        attempts: tries in all (1 = no retry).
        base_delay: seconds before the first retry; doubles each time.
        max_delay: cap of one wait.
        sleep: the sleep function (tests pass a no-op).
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based): full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))


#: maps an exception to its kind
Classifier = Callable[[BaseException], ErrorKind]


def call(
    fn: Callable[[], T],
    *,
    classify: Classifier,
    policy: RetryPolicy,
    what: str,
    url: str,
) -> T:
    """Run ``fn`` with retries on transient errors and translate the others.

    Args:
        fn: the request.
        classify: sorts an exception into an :class:`ErrorKind`.
        policy: retry schedule.
        what: the operation and key, for messages (``"read versions/3.json"``).
        url: the store URL, for messages.

    Returns:
        What ``fn`` returned.

    Raises:
        PreconditionFailed: a conditional write's precondition failed.
        FileNotFoundError: the key does not exist.
        StoreAccessError, StoreNotFoundError, StoreUnavailableError: see the module docstring.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except PreconditionFailed:
            raise
        except Exception as exc:
            kind = classify(exc)
            if kind is ErrorKind.TRANSIENT:
                attempt += 1
                if attempt < policy.attempts:
                    policy.sleep(policy.delay(attempt - 1))
                    continue
                raise StoreUnavailableError(
                    f"could not {what} in store {url}: still failing after {attempt} "
                    f"attempts ({_short(exc)}); check the network and the service, then retry"
                ) from exc
            if kind is ErrorKind.CONFLICT:
                raise PreconditionFailed(str(exc)) from exc
            if kind is ErrorKind.NOT_FOUND:
                if isinstance(exc, FileNotFoundError):
                    raise
                raise FileNotFoundError(f"{what}: not found") from exc
            if kind is ErrorKind.PERMISSION:
                raise StoreAccessError(
                    f"store {url} refused access ({_short(exc)}) to {what}; check the "
                    "credentials (storage options or the environment) and their permissions"
                ) from exc
            if kind is ErrorKind.BUCKET_MISSING:
                raise bucket_missing(url) from exc
            raise


def bucket_missing(url: str) -> StoreNotFoundError:
    """The error for a store whose bucket or container does not exist."""
    return StoreNotFoundError(
        f"the bucket or container of store {url} does not exist; create it (satchel never "
        "creates buckets) or fix the store URL"
    )


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
