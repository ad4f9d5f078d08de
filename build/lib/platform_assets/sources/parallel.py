"""Bounded concurrency with backpressure, for independent slices of one extraction.

Results come back in input order, and a new slice is only started when the consumer takes a
result, so at most ``window`` results wait in memory (plus the one being consumed), however
slow the consumer (the warehouse load) is.

``read_ahead`` is the sequential counterpart: one producer thread walks pages that depend on
each other (cursors, links) while the consumer validates and loads the previous ones.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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


_POLL_S = 0.05  # how often a producer blocked on a full queue checks whether to stop


def read_ahead(items: Iterable[T], depth: int) -> Iterator[T]:
    """``items``, iterated on a background thread at most ``depth`` items ahead of the consumer.

    Overlaps waiting for the next page with the consumer's work on this one; order, errors
    (re-raised to the consumer) and the one-request-at-a-time pace of ``items`` are kept.
    At most ``depth`` items wait in memory, plus the one being produced. When the consumer
    stops early, the producer stops after its current item and is joined; ``items`` is
    closed on the producer's own thread (a generator cannot be closed from another one).
    """
    if depth < 1:
        raise ValueError(f"need depth >= 1, got {depth}")
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not offer("item", item):
                    return
            offer("done", None)
        except BaseException as exc:  # not swallowed: handed to the consumer, raised there
            offer("error", exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    producer = threading.Thread(target=produce, name="read-ahead", daemon=True)
    producer.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        producer.join()
