"""The whole graph for one partition, on real demo sources, against the generator's truth."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pandas as pd
import pytest

from platform_assets.contracts import contracts
from platform_assets.demo.generator import (
    customers_between,
    defects,
    marketing_spend_for_day,
    orders_for_day,
    payments_for_day,
)
from platform_assets_tests.conftest import CUSTOMER_DAYS, TEST_CFG, TEST_DAY, Platform

REPO = Path(__file__).resolve().parents[1]
TABLES = {c.table: c for c in contracts().values()}


def table_rows(platform: Platform) -> dict[str, int]:
    return {name: platform.warehouse.count(contract) for name, contract in TABLES.items()}


def snapshot(platform: Platform, table: str) -> list[tuple]:
    contract = TABLES[table]
    keys = ", ".join(f'"{k}"' for k in contract.primary_key)
    return platform.warehouse.query(
        f'SELECT * FROM "{contract.schema}"."{table}" ORDER BY {keys}'  # noqa: S608 - test
    )


def expected_rows(cfg=TEST_CFG) -> dict[str, int]:
    """Row counts per table computed from the generator, independently of the pipeline."""
    orders = orders_for_day(TEST_DAY, cfg)
    customers = customers_between(
        TEST_DAY - pd.Timedelta(days=CUSTOMER_DAYS - 1).to_pytimedelta(), TEST_DAY, cfg
    )
    countries = orders.merge(customers, on="customer_id")["country"].nunique()
    return {
        "customers": len(customers),
        "orders": len(orders),
        "payments": len(payments_for_day(TEST_DAY, cfg)),
        "marketing_spend": len(marketing_spend_for_day(TEST_DAY, cfg)),
        "stg_customers": len(customers),
        "stg_orders": len(orders),
        "stg_payments": len(payments_for_day(TEST_DAY, cfg)),
        "stg_marketing_spend": 5,
        "daily_revenue_by_country": countries,
        "marketing_roas": 5,
        "customer_lifetime_value": len(customers),
        "shipment_events": 0,  # pushed events: nothing lands without a broker and a consumer
    }


def assert_marts_match_generator(platform: Platform) -> None:
    orders = orders_for_day(TEST_DAY, TEST_CFG)
    completed = orders[orders["status"] == "completed"]
    [(n_orders, booked, captured)] = platform.warehouse.query(
        "SELECT sum(orders), sum(booked_revenue_usd), sum(captured_usd) "
        'FROM "marts"."daily_revenue_by_country"'
    )
    assert n_orders == len(orders)
    assert Decimal(str(booked)) == Decimal(int(completed["amount_cents"].sum())) / 100
    paid = payments_for_day(TEST_DAY, TEST_CFG)["amount_cents"].sum()
    assert Decimal(str(captured)) == Decimal(int(paid)) / 100
    [(lifetime_orders,)] = platform.warehouse.query(
        'SELECT sum(orders) FROM "marts"."customer_lifetime_value"'
    )
    assert lifetime_orders == len(orders)


def test_full_graph_on_embedded_default_lands_exact_rows(make_platform) -> None:
    platform = make_platform()
    with dg.DagsterInstance.ephemeral() as instance:
        result = platform.materialize(instance)
    assert result.success
    assert table_rows(platform) == expected_rows()
    assert_marts_match_generator(platform)
    checks = result.get_asset_check_evaluations()
    assert len(checks) == sum(len(c.check_names) for c in TABLES.values())
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    orders_meta = next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("orders")
    )
    assert orders_meta["rows_extracted"].value == 240
    assert orders_meta["dagster/partition_row_count"].value == 240
    assert orders_meta["rows_quarantined"].value == 0


def test_rematerializing_a_partition_changes_nothing(make_platform) -> None:
    platform = make_platform(cfg=replace(TEST_CFG, defect_rate=0.05))
    with dg.DagsterInstance.ephemeral() as instance:
        assert platform.materialize(instance).success
        first = {table: snapshot(platform, table) for table in TABLES}
        quarantine_first = platform.warehouse.query(
            'SELECT asset, record FROM "platform"."quarantine" ORDER BY asset, record'
        )
        assert platform.materialize(instance).success
    assert {table: snapshot(platform, table) for table in TABLES} == first
    assert (
        platform.warehouse.query(
            'SELECT asset, record FROM "platform"."quarantine" ORDER BY asset, record'
        )
        == quarantine_first
    )


EXPECTED_REASON_COLUMN = {
    "negative_amount": "amount_cents",
    "unknown_status": "status",
    "null_customer": "customer_id",
    "non_positive_amount": "amount_cents",
    "unknown_method": "method",
    "invalid_email": "email",
    "null_country": "country",
    "negative_spend": "spend_usd",
    "clicks_exceed_impressions": "clicks,impressions",
}


def test_defective_rows_are_quarantined_with_their_reasons(make_platform) -> None:
    cfg = replace(TEST_CFG, defect_rate=0.05)
    platform = make_platform(cfg=cfg)
    with dg.DagsterInstance.ephemeral() as instance:
        result = platform.materialize(instance)
    assert result.success
    for table, key in (("orders", "order_id"), ("payments", "payment_id")):
        bad = defects(table, TEST_DAY, cfg)
        assert bad, "the generator must inject defects at this rate"
        rows = platform.warehouse.query(
            'SELECT record, reasons FROM "platform"."quarantine" '
            "WHERE asset = :asset AND partition_key = :partition",
            {"asset": table, "partition": TEST_DAY.isoformat()},
        )
        got = {}
        for record, reasons in rows:
            record, reasons = json.loads(record), json.loads(reasons)
            got[record[key]] = {r["column"] for r in reasons}
        assert got == {k: {EXPECTED_REASON_COLUMN[kind]} for k, kind in bad.items()}
        extracted = len(orders_for_day(TEST_DAY, cfg)) if table == "orders" else None
        if extracted is not None:  # conservation: extracted = loaded + quarantined
            assert platform.warehouse.count(TABLES[table]) + len(rows) == extracted


def test_failed_blocking_check_stops_downstream_assets(make_platform) -> None:
    # A stale customers table: only the last two days of signups, so most orders of the
    # day reference customers the warehouse does not have.
    platform = make_platform(customer_days=2)
    with dg.DagsterInstance.ephemeral() as instance:
        result = platform.materialize(instance)
    assert not result.success
    failed = [
        c
        for c in result.get_asset_check_evaluations()
        if not c.passed and c.severity == dg.AssetCheckSeverity.ERROR
    ]
    assert [(c.asset_key.to_user_string(), c.check_name) for c in failed] == [
        ("orders", "foreign_key_customer_id")
    ]
    orders = orders_for_day(TEST_DAY, TEST_CFG)
    known = set(customers_between(TEST_DAY - pd.Timedelta(days=1).to_pytimedelta(), TEST_DAY,
                                  TEST_CFG)["customer_id"])  # fmt: skip
    orphans = int((~orders["customer_id"].isin(known)).sum())
    assert orphans > 0
    assert failed[0].metadata["orphan_rows"].value == orphans
    assert failed[0].metadata["orphans_unexplained"].value == orphans
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    # Everything downstream of orders is blocked, payments included (its key references orders).
    assert materialized == {"customers", "orders", "marketing_spend", "stg_customers",
                            "stg_marketing_spend", "shipment_events"}  # fmt: skip


def test_full_graph_on_postgres_instance_and_warehouse(make_platform, make_pg_database) -> None:
    warehouse_url, source_url, dagster_url = (make_pg_database() for _ in range(3))
    platform = make_platform(
        extra_env={
            "PLATFORM_WAREHOUSE_URL": warehouse_url,
            "PLATFORM_SOURCE_DB_URL": source_url,
        }
    )
    dagster_home = platform.home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", dagster_home / "dagster.yaml")
    db = urlparse(dagster_url)
    pg_env = {
        "DAGSTER_PG_USERNAME": db.username or "postgres",
        "DAGSTER_PG_PASSWORD": db.password or "",
        "DAGSTER_PG_HOST": db.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(db.port or 5432),
        "DAGSTER_PG_DB": db.path.lstrip("/"),
    }
    mp = pytest.MonkeyPatch()
    for name, value in pg_env.items():
        mp.setenv(name, value)
    try:
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            result = platform.materialize(instance)
            assert result.success
            assert instance.get_run_by_id(result.run_id).is_success
            second = platform.materialize(instance)
            assert second.success
    finally:
        mp.undo()
    assert platform.warehouse.dialect == "postgres"
    assert table_rows(platform) == expected_rows()
    assert_marts_match_generator(platform)
