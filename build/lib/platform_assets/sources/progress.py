"""Progress of a long extraction, in the run log: pages, rows, rows/s and an ETA.

The log is any object with ``info``/``warning`` (Dagster's ``context.log``, a stdlib logger,
a test recorder), injected so the extractors stay testable without a Dagster run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

DEFAULT_EVERY_S = 5.0


class Log(Protocol):
    def info(self, msg: str) -> object: ...

    def warning(self, msg: str) -> object: ...


def default_log() -> Log:
    return logging.getLogger("platform_assets.sources")


class Progress:
    """Counts pages and rows; logs at most every ``every_s`` seconds (or ``every_pages``)."""

    def __init__(
        self,
        name: str,
        log: Log,
        every_s: float = DEFAULT_EVERY_S,
        every_pages: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "pages",
    ) -> None:
        self.name = name
        self.unit = unit
        self.total: int | None = None
        self.pages = 0
        self.rows = 0
        self._log = log
        self._every_s = every_s
        self._every_pages = every_pages
        self._clock = clock
        self._started = clock()
        self._last_log = self._started
        self._pages_at_last_log = 0

    def page(self, rows: int, total: int | None = None) -> None:
        self.pages += 1
        self.rows += rows
        if total is not None:
            self.total = total
        now = self._clock()
        due_by_time = now - self._last_log >= self._every_s
        due_by_pages = (
            self._every_pages is not None
            and self.pages - self._pages_at_last_log >= self._every_pages
        )
        if due_by_time or due_by_pages:
            self._log.info(self.line(now))
            self._last_log = now
            self._pages_at_last_log = self.pages

    def done(self) -> None:
        self._log.info(self.line(self._clock(), final=True))

    def line(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self._started, 1e-9)
        rate = self.rows / elapsed
        text = (
            f"{self.name}: {'done, ' if final else ''}{self.pages} {self.unit}, {self.rows} rows, "
            f"{rate:.0f} rows/s, {elapsed:.1f} s"
        )
        if self.total and not final:
            remaining = max(self.total - self.rows, 0)
            eta = f"{remaining / rate:.0f} s" if rate > 0 else "unknown"
            text += f", {100 * self.rows / self.total:.0f}% of {self.total}, ETA {eta}"
        return text
