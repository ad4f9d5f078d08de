"""Warehouses on both backends: a DuckDB file and a fresh PostgreSQL database per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from platform_assets.warehouse.resource import Warehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        return Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
    return Warehouse(url=make_pg_database())


@pytest.fixture
def pg_warehouse_url(make_pg_database: Callable[[], str]) -> str:
    return make_pg_database()
