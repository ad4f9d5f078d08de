"""customers loads incrementally: a high-water mark on updated_at, merged on the key.

The mark lives in the warehouse (platform.cursors) and moves in the loading transaction:
a load that fails leaves it where it was, so the next run re-reads instead of skipping.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from platform_assets.components.raw_asset import FULL_REFRESH_TAG
from platform_assets.contracts import contracts
from platform_assets.definitions import build_definitions
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import customers_between
from platform_assets.demo.sql_source import customers_table, seed_database
from platform_assets.warehouse.cursors import get_cursor, set_cursor
from platform_assets.warehouse.resource import Warehouse

CFG = DemoConfig(seed=21, customers_per_day=15)
FIRST, LAST = dt.date(2026, 3, 3), dt.date(2026, 3, 10)
CUSTOMERS = contracts()["customers"]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    if request.param == "duckdb":
        return Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return Warehouse(url=request.getfixturevalue("make_pg_database")())


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'storefront.db'}"
    seed_database(url, CFG, FIRST, LAST)
    return url


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def run_customers(
    warehouse: Warehouse, source: str, instance: dg.DagsterInstance, tags: dict | None = None
) -> dg.ExecuteInProcessResult:
    """The configured asset, its connections pointed at this test's databases."""
    env = {"PLATFORM_WAREHOUSE_URL": warehouse.url, "PLATFORM_SOURCE_DB_URL": source}
    with mock.patch.dict(os.environ, env):
        customers = build_definitions().resolve_assets_def("customers")
        return dg.materialize([customers], instance=instance, tags=tags, raise_on_error=False)


def materialize(
    warehouse: Warehouse, source: str, instance: dg.DagsterInstance, tags: dict | None = None
) -> dict:
    result = run_customers(warehouse, source, instance, tags)
    assert result.success
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def mark(warehouse: Warehouse) -> str | None:
    with warehouse.session() as session:
        return get_cursor(session, "customers")


def stamp(value: dt.datetime) -> str:
    return value.replace(tzinfo=dt.UTC).isoformat(timespec="microseconds")


def source_changes(url: str, newest: dt.datetime) -> None:
    """Two customers change their e-mail, one signs up: all after the current mark."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(sa.select(customers_table.c.customer_id).limit(2))]
        for n, customer_id in enumerate(ids, start=1):
            conn.execute(
                customers_table.update()
                .where(customers_table.c.customer_id == customer_id)
                .values(email=f"changed{n}@changed.test", updated_at=newest - dt.timedelta(hours=1))
            )
        conn.execute(new_customer(2026031199, "new@changed.test", newest))
    engine.dispose()


def new_customer(customer_id: int, email: str, at: dt.datetime) -> sa.Insert:
    """A customer row signed up and last updated at ``at``."""
    return customers_table.insert().values(
        customer_id=customer_id,
        email=email,
        full_name="New Customer",
        country="DE",
        acquisition_channel="organic",
        signup_at=at,
        updated_at=at,
    )


def test_only_changed_rows_are_read_and_merged(
    warehouse: Warehouse, source: str, instance: dg.DagsterInstance
) -> None:
    truth = customers_between(FIRST, LAST, CFG)
    first = materialize(warehouse, source, instance)
    newest = pd.to_datetime(truth["updated_at"], utc=True).max().to_pydatetime()
    assert first["rows_extracted"] == len(truth) == warehouse.count(CUSTOMERS)
    assert mark(warehouse) == first["high_water_mark"] == stamp(newest.replace(tzinfo=None))

    later = newest.replace(tzinfo=None) + dt.timedelta(days=1)
    source_changes(source, later)
    second = materialize(warehouse, source, instance)
    # The rows changed after the mark, plus the row at the mark itself (>= re-reads it).
    assert second["rows_extracted"] == 3 + 1
    assert second["high_water_mark_before"] == first["high_water_mark"]
    assert mark(warehouse) == second["high_water_mark"] == stamp(later)
    assert warehouse.count(CUSTOMERS) == len(truth) + 1
    emails = warehouse.query(
        'SELECT email FROM "raw"."customers" WHERE email LIKE :pattern ORDER BY email',
        {"pattern": "%@changed.test"},
    )
    assert [e for (e,) in emails] == ["changed1@changed.test", "changed2@changed.test",
                                      "new@changed.test"]  # fmt: skip


def test_a_failed_load_leaves_the_mark_where_it_was(warehouse: Warehouse) -> None:
    before = "2026-03-10T23:00:00.000000+00:00"
    with warehouse.session() as session:
        set_cursor(session, "customers", before, "earlier-run")
    with pytest.raises(RuntimeError, match="crash mid-load"):
        with warehouse.merge_writer(CUSTOMERS, asset="customers", run_id="crashing") as writer:
            assert get_cursor(writer.session, "customers") == before
            set_cursor(writer.session, "customers", "2099-01-01T00:00:00.000000+00:00", "crashing")
            raise RuntimeError("crash mid-load")
    assert mark(warehouse) == before


def test_a_full_refresh_run_reads_rows_restored_behind_the_mark(
    warehouse: Warehouse, source: str, instance: dg.DagsterInstance
) -> None:
    truth = customers_between(FIRST, LAST, CFG)
    first = materialize(warehouse, source, instance)
    oldest = pd.to_datetime(truth["updated_at"]).min().to_pydatetime()
    engine = sa.create_engine(source)
    with engine.begin() as conn:  # restored from a backup: its updated_at is long past
        conn.execute(new_customer(2026030199, "restored@backup.test", oldest))
    engine.dispose()

    incremental = materialize(warehouse, source, instance)
    assert incremental["rows_extracted"] == 1  # only the row at the mark: the restored one
    assert warehouse.count(CUSTOMERS) == len(truth)  # is behind it, and missed

    refreshed = materialize(warehouse, source, instance, tags={FULL_REFRESH_TAG: "true"})
    assert refreshed["full_refresh"] is True
    assert refreshed["rows_extracted"] == len(truth) + 1
    assert warehouse.count(CUSTOMERS) == len(truth) + 1  # merged on the key: no duplicates
    assert mark(warehouse) == refreshed["high_water_mark"] == first["high_water_mark"]


def test_a_misspelt_full_refresh_tag_fails_the_step(
    warehouse: Warehouse, source: str, instance: dg.DagsterInstance
) -> None:
    result = run_customers(warehouse, source, instance, tags={FULL_REFRESH_TAG: "yes"})
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "platform/full_refresh must be 'true' or 'false', got 'yes'" in str(
        failure.step_failure_data.error
    )
    assert mark(warehouse) is None and warehouse.count(CUSTOMERS) == 0
