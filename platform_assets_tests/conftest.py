"""Shared fixtures: real PostgreSQL databases, and a whole platform on demo sources.

Tests that need PostgreSQL skip with the reason where no server is reachable, and fail
under PLATFORM_REQUIRE_SERVICES=1 (CI), so a missing service can never pass silently.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS, DemoConfig
from platform_assets.demo.drops import write_drops
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import seed_database
from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.chromium import CHROMIUM_ARGS, MISSING, chromium_executable

POSTGRES_URL = os.environ.get(
    "PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_SERVICES = os.environ.get("PLATFORM_REQUIRE_SERVICES") == "1"

TEST_DAY = date(2026, 3, 10)
TEST_CFG = DemoConfig(seed=11, orders_per_day=240, customers_per_day=12, defect_rate=0.0)
# The source database holds the customers that TEST_DAY's orders can reference.
CUSTOMER_DAYS = CUSTOMER_LOOKBACK_DAYS + 1


def pytest_configure(config: pytest.Config) -> None:
    """Python's own Ctrl-C handler, as in a terminal, also when pytest starts in the
    background (``make test &``) with SIGINT ignored. Dagster maps SIGTERM to SIGINT's handler
    after every in-process run: an ignored SIGINT would leave SIGTERM ignored too, inherited by
    every child started after (pool workers, Dagster's log tailers), which then never stop."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def service_unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (PLATFORM_REQUIRE_SERVICES=1: this test must run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    return POSTGRES_URL


def database_url(server_url: str, name: str) -> str:
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def make_pg_database(postgres_url: str) -> Iterator[Callable[[], str]]:
    """Creates fresh databases on the test server; drops them after the test."""
    created: list[str] = []

    def create() -> str:
        name = f"platform_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return database_url(postgres_url, name)

    yield create
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for name in created:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass
class Platform:
    """A platform environment on demo sources, for one test."""

    home: Path
    cfg: DemoConfig
    env: dict[str, str]
    api: DemoApi
    day: date = TEST_DAY
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def warehouse(self) -> Warehouse:
        from platform_assets.home import embedded_warehouse_url

        url = self.env.get("PLATFORM_WAREHOUSE_URL") or embedded_warehouse_url(self.env)
        return Warehouse(url=url)

    def definitions(self) -> dg.Definitions:
        from platform_assets.definitions import build_definitions

        return build_definitions()

    def materialize(
        self, instance: dg.DagsterInstance, day: date | None = None
    ) -> dg.ExecuteInProcessResult:
        job = self.definitions().resolve_job_def("daily_job")
        return job.execute_in_process(
            partition_key=(day or self.day).isoformat(), instance=instance, raise_on_error=False
        )


@pytest.fixture
def make_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Platform]]:
    """Seeds demo sources for TEST_DAY, starts the demo API, points the resources at them."""
    platforms: list[Platform] = []

    def start(
        cfg: DemoConfig = TEST_CFG,
        overlap_pages: bool = False,
        extra_env: dict[str, str] | None = None,
        customer_days: int = CUSTOMER_DAYS,
    ) -> Platform:
        home = tmp_path / f"platform{len(platforms)}"
        env = {
            "PLATFORM_HOME": str(home),
            "PLATFORM_API_TOKEN": f"test-token-{uuid.uuid4().hex}",
            **(extra_env or {}),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        from platform_assets.demo.config import demo_landing_dir as landing_dir
        from platform_assets.demo.config import demo_source_db_url as source_db_url

        first = TEST_DAY - timedelta(days=customer_days - 1)
        seed_database(source_db_url(env), cfg, first, TEST_DAY)
        write_drops(Path(landing_dir(env)), cfg, TEST_DAY, TEST_DAY)
        api = DemoApi(cfg, env["PLATFORM_API_TOKEN"], overlap_pages=overlap_pages).start()
        monkeypatch.setenv("PLATFORM_API_URL", api.url)
        env["PLATFORM_API_URL"] = api.url
        platform = Platform(home=home, cfg=cfg, env=env, api=api)
        platforms.append(platform)
        return platform

    yield start
    for platform in platforms:
        platform.api.stop()


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium (a ``playwright.sync_api.Browser``) closed after the test; skips
    without Chromium, fails under PLATFORM_REQUIRE_SERVICES=1."""
    from playwright.sync_api import sync_playwright

    executable = chromium_executable()
    if executable is None:
        service_unavailable(MISSING)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
