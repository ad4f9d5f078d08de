"""When to retry a request, and how long to wait: the policy, separate from the HTTP plumbing.

Only transient faults are retried (the server or the network may do better in a moment);
permanent ones (a bad request, a missing page, a refused token) fail at once, because retrying
them only delays the alert and hammers the API.
"""

from __future__ import annotations

import math
import random
import threading
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

# 408/425: the server gave up waiting / too early; 429: throttled; 5xx: overloaded or restarting.
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns None when the header is absent or unparseable (the caller then says so in its
    warning and falls back to its own backoff); never a negative wait.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(retry: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2**retry)).

    Full jitter spreads the retries of many workers that failed together, so they do not
    come back in lockstep and knock the API over again.
    """
    return rng.uniform(0.0, min(cap_s, base_s * 2**retry))


class RetryBudget:
    """Retries left for one run, shared by every request and worker thread of that run.

    A per-request attempt limit alone lets a struggling API cost (pages x attempts) requests;
    the budget caps the total so a bad day fails in minutes, not hours.
    """

    def __init__(self, retries: int) -> None:
        if retries < 0:
            raise ValueError(f"retry budget must be >= 0, got {retries}")
        self.total = retries
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def spend(self) -> bool:
        """Take one retry; False when the budget is exhausted."""
        with self._lock:
            if self._used >= self.total:
                return False
            self._used += 1
            return True
