"""Fixtures for the demo source tests; self-contained so the package can be tested alone."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from platform_assets_tests.conftest import service_unavailable

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def demo_postgres_url() -> Iterator[str]:
    """SQLAlchemy URL (psycopg 3) of a fresh, empty database, dropped after the test.

    Skips when the server is unreachable, unless PLATFORM_REQUIRE_SERVICES=1 (CI), where a
    missing server must fail loudly instead of silently skipping the PostgreSQL coverage.
    """
    server_url = make_url(os.environ.get("PLATFORM_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    admin_url = server_url.set(drivername="postgresql")
    try:
        admin = psycopg.connect(
            admin_url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as exc:
        service_unavailable(f"PostgreSQL not reachable at {admin_url.render_as_string()}: {exc}")
    name = f"demo_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            test_url = server_url.set(drivername="postgresql+psycopg", database=name)
            yield test_url.render_as_string(hide_password=False)
        finally:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))
