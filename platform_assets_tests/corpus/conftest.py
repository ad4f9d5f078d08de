"""Fixtures of the defect corpus: one in-memory instance, one warehouse per backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from platform_assets_tests.conftest import database_url


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """In memory: the runs' events need not outlive the module (and SQLite's commits per
    event cost more than the corpus itself here)."""
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One warehouse per backend for the module (a fresh PostgreSQL database, dropped after)."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('corpus') / 'warehouse.duckdb'}"
        return
    server = request.getfixturevalue("postgres_url")
    name = f"platform_test_corpus_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_url(server, name)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
