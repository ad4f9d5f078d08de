"""Fixtures for the extractor tests: the demo API as a real child process, reconfigured per test.

One server per module keeps the tests fast; every test sets its own fault knobs (which also
resets the server-side counters), so tests never see each other's requests.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.faults import Faults
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import RestApi

TOKEN = "sources-test-token-3b9f0c1d8e"
DAY = dt.date(2026, 3, 10)
CFG = DemoConfig(seed=5, orders_per_day=450, customers_per_day=20)


class Recorder:
    """A log that keeps its lines (stands in for context.log)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))

    def text(self) -> str:
        return "\n".join(msg for _, msg in self.lines)


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoApi]:
    with DemoApi(CFG, TOKEN) as running:
        yield running


@pytest.fixture
def api(demo: DemoApi) -> Iterator[DemoApi]:
    """The module's server with every fault off and fresh counters."""
    demo.set_faults(Faults())
    yield demo


def client(demo: DemoApi, **overrides: Any) -> RestApi:
    """A client with fast retries (tests wait milliseconds, not seconds)."""
    settings: dict[str, Any] = {
        "base_url": demo.url,
        "token": TOKEN,
        "page_size": 100,
        "backoff_base_s": 0.001,
        "backoff_max_s": 0.01,
        "max_attempts": 8,
        "read_timeout_s": 5.0,
    }
    return RestApi(**{**settings, **overrides})


def collect(frames: Iterator[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(list(frames), ignore_index=True)
