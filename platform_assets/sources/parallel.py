"""Bounded concurrency with backpressure, for independent slices of one extraction.

Results come back in input order, and a new slice is only started when the consumer takes a
result, so at most ``window`` results wait in memory (plus the one being consumed), however
slow the consumer (the warehouse load) is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, window: int) -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, in order, at most ``window`` results ahead."""
    if workers < 1 or window < workers:
        raise ValueError(f"need 1 <= workers <= window, got workers={workers}, window={window}")
    source = iter(items)
    pending: deque[Future[R]] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract")
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                break
        while pending:
            result = pending.popleft().result()  # re-raises a worker's error here
            for item in source:
                pending.append(pool.submit(fn, item))
                break
            yield result
    finally:
        # On error or when the consumer stops early: drop what has not started, wait for the rest.
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
