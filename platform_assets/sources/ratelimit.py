"""Client-side rate limit: a token bucket shared by every worker that calls the same API.

The bucket is a GCRA ("generic cell rate algorithm") reservation: each request reserves the
next free slot in one short transaction and then sleeps until its slot, so there is no
polling, and the state is a single number per bucket (the theoretical arrival time, ``tat``).

Where the state lives decides who shares it:

* ``""`` (no store): one process; threads share it.
* a file path: a SQLite file; every thread and process on this machine shares it. This is
  the embedded default (no services needed).
* ``postgresql://...``: a row in ``platform.rate_limits``; every machine that reaches the
  database shares it, and the database clock is the only clock (no skew between machines).
  Use it when workers run on several machines (celery, k8s).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from platform_assets.warehouse.sql import DDL_LOCK, XACT_LOCK, to_driver_params

if TYPE_CHECKING:
    import psycopg


Sleep = Callable[[float], None]


class RateLimiter(Protocol):
    def acquire(self) -> float:
        """Block until a request may be sent; returns the seconds waited."""
        ...

    def close(self) -> None:
        """Release connections; the limiter stays usable (it reconnects when needed)."""
        ...


class Unlimited:
    def acquire(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class _Gcra:
    """The arithmetic shared by every backend."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate_per_s}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self.interval = 1.0 / rate_per_s
        self.tolerance = (burst - 1) * self.interval

    def reserve(self, tat: float, now: float) -> tuple[float, float]:
        """(new tat, seconds to wait) for one request arriving at ``now``."""
        slot = max(tat, now - self.tolerance)
        return slot + self.interval, slot - now


class LocalTokenBucket:
    """Threads of one process."""

    def __init__(self, rate_per_s: float, burst: int, sleep: Sleep = time.sleep) -> None:
        self._gcra = _Gcra(rate_per_s, burst)
        self._tat = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep

    def acquire(self) -> float:
        with self._lock:
            self._tat, wait = self._gcra.reserve(self._tat, time.monotonic())
        return _wait(wait, self._sleep)

    def close(self) -> None:
        pass


class SqliteTokenBucket:
    """Every thread and process on one machine, through a small SQLite file."""

    def __init__(
        self, path: str | Path, bucket: str, rate_per_s: float, burst: int,
        sleep: Sleep = time.sleep,
    ) -> None:  # fmt: skip
        self._gcra = _Gcra(rate_per_s, burst)
        self._path = Path(path)
        self._bucket = bucket
        self._sleep = sleep
        self._path.parent.mkdir(parents=True, exist_ok=True)
        # Default rollback journal: switching to WAL needs an exclusive lock that races between
        # starting processes, and a few dozen tiny transactions per second need no WAL.
        with self._connect() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS rate_limits "
                "(bucket TEXT PRIMARY KEY, tat REAL NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        # A connection per call: cheap, and safe across threads and forks.
        conn = sqlite3.connect(self._path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA synchronous=OFF")  # losing the bucket in a crash costs nothing
        return conn

    def acquire(self) -> float:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading: no lost update
            row = conn.execute(
                "SELECT tat FROM rate_limits WHERE bucket = ?", (self._bucket,)
            ).fetchone()
            # Wall clock: time.monotonic() is not comparable between processes everywhere.
            tat, wait = self._gcra.reserve(row[0] if row else 0.0, time.time())
            conn.execute(
                "INSERT INTO rate_limits (bucket, tat) VALUES (?, ?) "
                "ON CONFLICT (bucket) DO UPDATE SET tat = excluded.tat",
                (self._bucket, tat),
            )
            conn.execute("COMMIT")
        finally:
            conn.close()  # an uncommitted transaction is rolled back here
        return _wait(wait, self._sleep)

    def close(self) -> None:
        pass


_PG_DDL = (
    "CREATE SCHEMA IF NOT EXISTS platform",
    "CREATE TABLE IF NOT EXISTS platform.rate_limits "
    "(bucket text PRIMARY KEY, tat double precision NOT NULL)",
)
# One atomic statement; statement_timestamp() is the database's clock, the same for every host.
_PG_RESERVE = """
INSERT INTO platform.rate_limits AS b (bucket, tat)
VALUES (%(bucket)s,
        extract(epoch FROM statement_timestamp()) - %(tolerance)s + %(interval)s)
ON CONFLICT (bucket) DO UPDATE
SET tat = greatest(b.tat, extract(epoch FROM statement_timestamp()) - %(tolerance)s)
          + %(interval)s
RETURNING b.tat - %(interval)s - extract(epoch FROM statement_timestamp())::double precision
"""


class PostgresTokenBucket:
    """Every worker on every machine that reaches the database."""

    def __init__(
        self, url: str, bucket: str, rate_per_s: float, burst: int, sleep: Sleep = time.sleep
    ) -> None:
        self._gcra = _Gcra(rate_per_s, burst)
        self._url = url
        self._bucket = bucket
        self._sleep = sleep
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            # A bucket update lost in a crash costs nothing; waiting for the WAL flush does.
            self._conn.execute("SET synchronous_commit = off")
            with self._conn.transaction():  # concurrent CREATE ... IF NOT EXISTS can collide
                self._conn.execute(to_driver_params(XACT_LOCK, "postgres"), {"key": DDL_LOCK})
                for statement in _PG_DDL:
                    self._conn.execute(statement)
        return self._conn

    def acquire(self) -> float:
        params = {
            "bucket": self._bucket,
            "interval": self._gcra.interval,
            "tolerance": self._gcra.tolerance,
        }
        with self._lock:
            row = self._connection().execute(_PG_RESERVE, params).fetchone()
        assert row is not None  # RETURNING always yields the row
        return _wait(float(row[0]), self._sleep)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _wait(seconds: float, sleep: Sleep) -> float:
    if seconds <= 0:
        return 0.0
    sleep(seconds)
    return seconds


def rate_limiter(store: str, bucket: str, rate_per_s: float, burst: int) -> RateLimiter:
    """The limiter for a resource's settings; ``rate_per_s <= 0`` means no client-side limit."""
    if rate_per_s <= 0:
        return Unlimited()
    if not store:
        return LocalTokenBucket(rate_per_s, burst)
    if store.startswith(("postgresql://", "postgres://")):
        return PostgresTokenBucket(store, bucket, rate_per_s, burst)
    return SqliteTokenBucket(store.removeprefix("sqlite:///"), bucket, rate_per_s, burst)
