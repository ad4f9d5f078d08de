"""Loader child processes and a concurrent reader, for the crash and concurrency tests.

Children come from a forkserver that has already imported the platform (Dagster takes
seconds to import), so each trial costs milliseconds; every child is killed and joined.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import psycopg

from platform_assets_tests.warehouse.dataset import load_events

CTX = multiprocessing.get_context("forkserver")
CTX.set_forkserver_preload(["platform_assets_tests.warehouse.dataset"])
JOIN_TIMEOUT_S = 30


@dataclass
class Loader:
    process: BaseProcess
    messages: Connection


def _run_loader(start: Any, kwargs: dict[str, Any]) -> None:
    if start is not None:
        start.wait()
    load_events(**kwargs)


@contextmanager
def loader(start: Any = None, **kwargs: Any) -> Iterator[Loader]:
    """A child loading one partition (``load_events`` kwargs); SIGKILLed if still running."""
    receive, send = CTX.Pipe(duplex=False)
    process = CTX.Process(target=_run_loader, args=(start, {**kwargs, "progress": send}))
    process.start()
    send.close()
    try:
        yield Loader(process, receive)
    finally:
        if process.is_alive():
            process.kill()
        process.join(JOIN_TIMEOUT_S)
        receive.close()


def drain(messages: Connection) -> list[str]:
    """Every message a (finished or killed) child managed to send."""
    received = []
    while True:
        try:
            received.append(messages.recv())
        except EOFError:
            return received


@dataclass
class PartitionReader:
    """Polls one partition's row and quarantine counts in a thread, as a dashboard would."""

    url: str
    day: date
    seen: set[tuple[int, int]] = field(default_factory=set)
    polls: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def __enter__(self) -> PartitionReader:
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(JOIN_TIMEOUT_S)
        if self._error is not None:
            raise self._error

    def _poll(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self._stop.is_set():
                    if not self._table_exists(conn):  # the loaders create it (and quarantine)
                        time.sleep(0.005)
                        continue
                    self.seen.add(self._counts(conn))
                    self.polls += 1
        except BaseException as exc:  # re-raised in the test thread by __exit__
            self._error = exc

    @staticmethod
    def _table_exists(conn: psycopg.Connection) -> bool:
        row = conn.execute("""SELECT to_regclass('"raw"."order events"')""").fetchone()
        return row is not None and row[0] is not None

    def _counts(self, conn: psycopg.Connection) -> tuple[int, int]:
        """Rows and quarantine rows of the partition, read in ONE snapshot."""
        row = conn.execute(
            'SELECT (SELECT count(*) FROM "raw"."order events" WHERE "date" = %s), '
            '(SELECT count(*) FROM "platform"."quarantine" '
            "WHERE asset = 'events' AND partition_key = %s)",
            (self.day, self.day.isoformat()),
        ).fetchone()
        assert row is not None
        return row[0], row[1]
