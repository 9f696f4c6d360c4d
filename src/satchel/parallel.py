"""Bounded parallel work that stops at the first failure.

:func:`run_parallel` keeps at most ``workers * 2`` tasks in flight (memory stays flat for a
million items), cancels what has not started when one task fails, and re-raises that failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from satchel.hashing import default_workers

T = TypeVar("T")
R = TypeVar("R")


def run_parallel(
    fn: Callable[[T], R], items: Iterable[T], *, workers: int | None = None
) -> list[R]:
    """Apply ``fn`` to every item in a bounded thread pool; results in input order.

    Raises:
        Exception: the first exception any call raised (the rest is cancelled).
    """
    items = list(items)
    workers = workers or default_workers() * 2
    if len(items) <= 1 or workers <= 1:
        return [fn(i) for i in items]
    results: list[R | None] = [None] * len(items)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        in_flight: dict[Future[R], int] = {}
        it = iter(enumerate(items))
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < workers * 2:
                try:
                    idx, item = next(it)
                except StopIteration:
                    exhausted = True
                    break
                in_flight[pool.submit(fn, item)] = idx
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_EXCEPTION)
            for fut in done:
                idx = in_flight.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    for other in in_flight:
                        other.cancel()
                    raise exc
                results[idx] = fut.result()
    return results  # type: ignore[return-value]
