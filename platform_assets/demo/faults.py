"""Fault injection for the demo API: the failures real vendor APIs produce, on demand.

Every knob lives in ``Faults`` (all off by default). Which request fails is decided by a hash of
``(seed, request key, how often that key was asked before)``, not by a shared random stream:
the n-th attempt of a given page always meets the same fate, however many client threads race,
so tests with faults are deterministic.

The knobs reach the server process as JSON in ``PLATFORM_DEMO_FAULTS`` and can be replaced at
run time with ``POST /_control`` (tests reconfigure one server instead of starting many).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

FAULTS_ENV = "PLATFORM_DEMO_FAULTS"
SERVER_ERRORS = (500, 502, 503, 504)
RETRY_AFTER_FORMATS = ("seconds", "date")
ENDLESS_CURSOR_MODES = ("", "repeat", "fresh")

# Drawn in this order from one uniform number, so the shares add up (and must stay <= 1).
RATE_KNOBS = ("error_rate", "throttle_rate", "slow_rate", "truncate_rate", "garble_rate")
FAULT_KINDS = {
    "error_rate": "error",
    "throttle_rate": "throttle",
    "slow_rate": "slow",
    "truncate_rate": "truncate",
    "garble_rate": "garble",
}


@dataclass(frozen=True)
class Faults:
    """What the demo API does wrong, and how often.

    * ``error_rate``: share answered 500/502/503/504 (a transient server error).
    * ``throttle_rate``: share answered 429 with ``Retry-After: retry_after_s`` (as seconds or
      as an HTTP-date, ``retry_after_format``).
    * ``slow_rate``: share answered only after ``slow_s`` seconds (beyond a client's timeout).
    * ``truncate_rate``: share whose connection is cut halfway through the declared body.
    * ``garble_rate``: share answered 200 with half a JSON document (unparseable body).
    * ``token_ttl_requests``: after this many authorized requests the token is expired (401).
    * ``latency_ms``: added to every API request.
    * ``rate_limit_per_s``/``rate_limit_burst``: server-side token bucket; 429 when exceeded.
    * ``endless_cursor``: ``repeat`` hands back the cursor it was given; ``fresh`` never stops
      handing out new cursors (cycling through the data).
    * ``echo_credentials``: a refused credential is quoted in the 401 body (careless APIs do
      that; clients must not pass it on to their logs).
    * ``total_skew``: added to every announced total (the ``total`` field, ``X-Total-Count``)
      while the pages keep serving the real rows: +250 announces 1,250 and serves 1,000 (a
      truncated export), a negative skew announces fewer rows than are served.
    """

    seed: int = 0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after_s: int = 1
    retry_after_format: str = "seconds"
    slow_rate: float = 0.0
    slow_s: float = 2.0
    truncate_rate: float = 0.0
    garble_rate: float = 0.0
    token_ttl_requests: int = 0
    latency_ms: float = 0.0
    rate_limit_per_s: float = 0.0
    rate_limit_burst: int = 1
    endless_cursor: str = ""
    echo_credentials: bool = False
    total_skew: int = 0

    def __post_init__(self) -> None:
        for name in RATE_KNOBS:
            _check(name, getattr(self, name), 0.0, 1.0)
        if sum(getattr(self, name) for name in RATE_KNOBS) > 1.0:
            raise ValueError(f"the fault rates {RATE_KNOBS} add up to more than 1")
        for name in ("retry_after_s", "slow_s", "token_ttl_requests", "latency_ms"):
            _check(name, getattr(self, name), 0, math.inf)
        _check("rate_limit_per_s", self.rate_limit_per_s, 0, math.inf)
        _check("rate_limit_burst", self.rate_limit_burst, 1, math.inf)
        if self.retry_after_format not in RETRY_AFTER_FORMATS:
            raise ValueError(f"retry_after_format must be one of {RETRY_AFTER_FORMATS}")
        if not isinstance(self.echo_credentials, bool):
            raise ValueError("echo_credentials must be true or false")
        if isinstance(self.total_skew, bool) or not isinstance(self.total_skew, int):
            raise ValueError(f"fault knob total_skew must be an integer, got {self.total_skew!r}")
        if self.endless_cursor not in ENDLESS_CURSOR_MODES:
            raise ValueError(f"endless_cursor must be one of {ENDLESS_CURSOR_MODES}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Faults:
        """Strict: an unknown knob is a typo that would silently disable a test's fault."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault knob(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Faults:
        raw = env.get(FAULTS_ENV, "").strip()
        if not raw:
            return cls()
        try:
            values = json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{FAULTS_ENV} must be a JSON object: {exc}") from exc
        if not isinstance(values, dict):
            raise ValueError(f"{FAULTS_ENV} must be a JSON object")
        return cls.from_mapping(values)

    def to_env(self) -> dict[str, str]:
        return {FAULTS_ENV: json.dumps(asdict(self))}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"fault knob {name} must be a number, got {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"fault knob {name} must be between {low} and {high}, got {value!r}")


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULT_KINDS' values
    status: int = 0  # for "error": which 5xx


def _uniform(*parts: object) -> float:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


class FaultPlan:
    """Decides, deterministically per request key and attempt, which fault (if any) strikes."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._attempts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def draw(self, key: str) -> Fault | None:
        with self._lock:
            attempt = self._attempts[key]
            self._attempts[key] += 1
        roll = _uniform(self.faults.seed, key, attempt)
        edge = 0.0
        for knob in RATE_KNOBS:
            edge += getattr(self.faults, knob)
            if roll < edge:
                kind = FAULT_KINDS[knob]
                if kind == "error":
                    pick = int(_uniform(self.faults.seed, key, attempt, "status") * 4)
                    return Fault(kind, SERVER_ERRORS[pick])
                return Fault(kind)
        return None


class TokenBucket:
    """The server's own rate limit: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0.0 when the request may pass, else the seconds until a token is available."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


class Stats:
    """Server-side counters, so tests can assert how many attempts a client really made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.by_status: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0

    def started(self, path: str) -> None:
        with self._lock:
            self.requests += 1
            self.by_path[path] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.by_status[str(status)] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "by_status": dict(self.by_status),
                "by_path": dict(self.by_path),
                "faults": dict(self.faults),
                "max_in_flight": self.max_in_flight,
            }
