"""The gates in the warehouse: each defect and drift scenario, and what a person sees."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta

import pandas as pd
import pytest

from platform_assets.contracts import Column, contracts
from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS, DemoConfig
from platform_assets.demo.generator import (
    customers_between,
    defects,
    marketing_spend_for_day,
    orders_for_day,
    payments_for_day,
)
from platform_assets.quality.drift import prepare_table
from platform_assets.quality.validation import SchemaDriftError
from platform_assets_tests.conftest import TEST_DAY
from platform_assets_tests.quality.conftest import checks, load, meta

C = contracts()
CFG = DemoConfig(seed=11, orders_per_day=240, customers_per_day=12, defect_rate=0.0)
FIRST_CUSTOMER_DAY = TEST_DAY - timedelta(days=CUSTOMER_LOOKBACK_DAYS)
REASON_COLUMN = {
    "negative_amount": "amount_cents",
    "unknown_status": "status",
    "null_customer": "customer_id",
    "invalid_email": "email",
    "null_country": "country",
    "negative_spend": "spend_usd",
    "clicks_exceed_impressions": "clicks,impressions",
}


def customers(cfg: DemoConfig = CFG) -> pd.DataFrame:
    return customers_between(FIRST_CUSTOMER_DAY, TEST_DAY, cfg)


def load_clean_day(warehouse, cfg: DemoConfig = CFG) -> dict:
    return {
        "customers": load(warehouse, C["customers"], customers(cfg), None),
        "orders": load(warehouse, C["orders"], orders_for_day(TEST_DAY, cfg), TEST_DAY),
        "payments": load(warehouse, C["payments"], payments_for_day(TEST_DAY, cfg), TEST_DAY),
    }


def failed(results: dict) -> list[str]:
    return [name for name, r in results.items() if not r.passed]


def test_clean_partitions_pass_every_gate_with_insufficient_history(warehouse) -> None:
    loads = load_clean_day(warehouse)
    for table, loaded in loads.items():
        day = TEST_DAY if C[table].is_partitioned else None
        results = checks(warehouse, C[table], day, loaded.facts)
        assert list(results) == C[table].check_names
        assert failed(results) == [], table
    orders = checks(warehouse, C["orders"], TEST_DAY, loads["orders"].facts)
    assert meta(orders["volume_anomaly"], "verdict") == "insufficient history: 0 of 5 partitions"
    assert meta(orders["volume_anomaly"], "row_count") == 240
    assert meta(orders["foreign_key_customer_id"], "orphan_rows") == 0
    assert meta(orders["quarantine_rate"], "rows_extracted") == 240
    assert meta(orders["schema_drift"], "findings") == []


def test_duplicate_keys_in_the_table_fail_the_primary_key(warehouse) -> None:
    """A load never writes a key twice (warehouse/test_duplicates.py); rows written into
    the table some other way (by hand, by an older version) are still caught by the gate."""
    frame = orders_for_day(TEST_DAY, CFG)
    load(warehouse, C["customers"], customers(), None)
    load(warehouse, C["orders"], frame, TEST_DAY)
    first, second = (int(k) for k in frame["order_id"].iloc[118:120])
    warehouse.query(
        'INSERT INTO "raw"."orders" SELECT * FROM "raw"."orders" '
        'WHERE "order_id" IN (:first, :second)',
        {"first": first, "second": second},
    )
    result = checks(warehouse, C["orders"], TEST_DAY)["primary_key_unique_not_null"]
    assert not result.passed
    assert (meta(result, "duplicated_keys"), meta(result, "null_keys")) == (2, 0)
    assert meta(result, "sample_duplicates") == [
        {"order_id": str(k), "copies": "2"} for k in frame["order_id"].iloc[118:120]
    ]


def _insert(warehouse, table: str, row: dict) -> None:
    contract = C[table]
    columns = ", ".join(f'"{c}"' for c in row)
    values = ", ".join(f":{c}" for c in row)
    warehouse.query(
        f'INSERT INTO "{contract.schema}"."{table}" ({columns}) VALUES ({values})',  # noqa: S608
        row,
    )


def test_accepted_values_and_ranges_are_rechecked_in_the_warehouse(warehouse) -> None:
    load_clean_day(warehouse)
    bad = {
        "order_id": 1,
        "customer_id": int(customers()["customer_id"].iloc[0]),
        "order_ts": pd.Timestamp(TEST_DAY, tz="UTC").to_pydatetime(),
        "order_date": TEST_DAY,
        "status": "lost",
        "amount_cents": -1,
        "currency": "USD",
    }
    _insert(warehouse, "orders", bad)  # as a load path that bypassed validation would
    result = checks(warehouse, C["orders"], TEST_DAY)["accepted_values_and_ranges"]
    assert not result.passed
    assert meta(result, "violations") == {
        "order_id >= 1": 0,
        "status in accepted_values": 1,
        "amount_cents >= 0": 1,
        "currency in accepted_values": 0,
    }
    [sample] = meta(result, "sample_failing_rows")
    assert (sample["order_id"], sample["status"], sample["amount_cents"]) == ("1", "lost", "-1")


def test_row_rules_are_rechecked_on_exactly_the_partition(warehouse) -> None:
    yesterday = TEST_DAY - timedelta(days=1)
    for day in (yesterday, TEST_DAY):
        spend = load(warehouse, C["marketing_spend"], marketing_spend_for_day(day, CFG), day)
        assert spend.loaded == 5
    for day, channel, change in (
        (TEST_DAY, "video", "clicks = impressions + 1"),
        (TEST_DAY, "search", "spend_usd = -1"),
        (yesterday, "email", "spend_usd = -1"),  # another partition: not this gate's business
    ):
        warehouse.query(
            f'UPDATE "raw"."marketing_spend" SET {change} WHERE channel = :c AND date = :d',  # noqa: S608
            {"c": channel, "d": day},
        )
    result = checks(warehouse, C["marketing_spend"], TEST_DAY)["accepted_values_and_ranges"]
    violations = meta(result, "violations")
    assert (violations["clicks <= impressions"], violations["spend_usd >= 0"]) == (1, 1)
    sample = meta(result, "sample_failing_rows")
    assert sorted((r["date"], r["channel"]) for r in sample) == [
        (TEST_DAY.isoformat(), "search"),
        (TEST_DAY.isoformat(), "video"),
    ]


def test_orphans_fail_unless_their_parent_was_quarantined(warehouse) -> None:
    bad_orders_cfg = replace(CFG, defect_rate=0.05)
    load(warehouse, C["customers"], customers(), None)
    orders = load(warehouse, C["orders"], orders_for_day(TEST_DAY, bad_orders_cfg), TEST_DAY)
    assert orders.quarantined == 12
    payments = payments_for_day(TEST_DAY, CFG)
    with_quarantined_parent = int(
        payments["order_id"].isin(defects("orders", TEST_DAY, bad_orders_cfg)).sum()
    )
    assert with_quarantined_parent > 0
    load(warehouse, C["payments"], payments, TEST_DAY)
    result = checks(warehouse, C["payments"], TEST_DAY)["foreign_key_order_id"]
    assert result.passed
    assert meta(result, "orphans_with_quarantined_parent") == with_quarantined_parent
    assert meta(result, "orphans_unexplained") == 0
    # A payment of an order that exists nowhere is a real orphan.
    stray = payments.iloc[[0]].assign(payment_id=99, order_id=424242)
    load(warehouse, C["payments"], pd.concat([payments, stray]), TEST_DAY)
    result = checks(warehouse, C["payments"], TEST_DAY)["foreign_key_order_id"]
    assert not result.passed and result.severity.value == "ERROR"
    assert meta(result, "orphans_unexplained") == 1
    assert [(r["payment_id"], r["order_id"]) for r in meta(result, "sample_orphans")] == [
        ("99", "424242")
    ]


def test_orphans_of_an_unpartitioned_parent_with_quarantined_customers(warehouse) -> None:
    bad_customers_cfg = replace(CFG, defect_rate=0.1)
    loaded = load(warehouse, C["customers"], customers(bad_customers_cfg), None)
    bad_ids = {
        k
        for offset in range(CUSTOMER_LOOKBACK_DAYS + 1)
        for k in defects(
            "customers", FIRST_CUSTOMER_DAY + timedelta(days=offset), bad_customers_cfg
        )
    }
    assert loaded.quarantined == len(bad_ids) > 0
    orders = orders_for_day(TEST_DAY, CFG)
    load(warehouse, C["orders"], orders, TEST_DAY)
    result = checks(warehouse, C["orders"], TEST_DAY)["foreign_key_customer_id"]
    assert result.passed
    expected = int(orders["customer_id"].isin(bad_ids).sum())
    assert (
        meta(result, "orphans_with_quarantined_parent") == meta(result, "orphan_rows") == expected
    )


def test_a_missing_parent_table_fails_the_foreign_key(warehouse) -> None:
    load(warehouse, C["payments"], payments_for_day(TEST_DAY, CFG), TEST_DAY)
    result = checks(warehouse, C["payments"], TEST_DAY)["foreign_key_order_id"]
    assert not result.passed
    assert meta(result, "parent_missing") == "raw.orders does not exist"


def test_an_empty_partition_fails_the_volume_gate(warehouse) -> None:
    load(warehouse, C["customers"], customers(), None)
    empty = orders_for_day(TEST_DAY, CFG).iloc[0:0]
    results = checks(
        warehouse, C["orders"], TEST_DAY, load(warehouse, C["orders"], empty, TEST_DAY).facts
    )
    assert failed(results) == ["volume_anomaly"]
    assert meta(results["volume_anomaly"], "verdict") == "0 rows, fewer than min_rows 1"
    assert meta(results["quarantine_rate"], "quarantine_rate") == 0.0


def _history(warehouse, days: int) -> list[date]:
    load(warehouse, C["customers"], customers(), None)
    history = [TEST_DAY - timedelta(days=d) for d in range(days, 0, -1)]
    for day in history:
        load(warehouse, C["orders"], orders_for_day(day, CFG), day)
    return history


def test_a_partition_ten_times_larger_than_usual_is_a_volume_anomaly(warehouse) -> None:
    history = _history(warehouse, 6)
    big = orders_for_day(TEST_DAY, replace(CFG, orders_per_day=2400))
    load(warehouse, C["orders"], big, TEST_DAY)
    result = checks(warehouse, C["orders"], TEST_DAY)["volume_anomaly"]
    assert not result.passed and result.severity.value == "ERROR"
    assert meta(result, "row_count") == 2400
    assert (meta(result, "median"), meta(result, "mad")) == (240.0, 0.0)
    assert meta(result, "z") == 180.0  # (2400 - 240) / max(1.4826 * 0, 1, 5% of 240)
    assert meta(result, "max_abs_z") == 4.0
    assert meta(result, "history") == [
        {"partition": d.isoformat(), "rows": 240} for d in reversed(history)
    ]
    load(warehouse, C["orders"], orders_for_day(TEST_DAY, CFG), TEST_DAY)  # back to normal
    result = checks(warehouse, C["orders"], TEST_DAY)["volume_anomaly"]
    assert result.passed and meta(result, "z") == 0.0


def test_volume_is_not_judged_before_enough_history(warehouse) -> None:
    _history(warehouse, 4)
    big = orders_for_day(TEST_DAY, replace(CFG, orders_per_day=2400))
    load(warehouse, C["orders"], big, TEST_DAY)
    result = checks(warehouse, C["orders"], TEST_DAY)["volume_anomaly"]
    assert result.passed
    assert meta(result, "verdict") == "insufficient history: 4 of 5 partitions"
    assert "z" not in result.metadata


def test_quarantine_rate_above_the_threshold_fails_with_reasons(warehouse) -> None:
    cfg = replace(CFG, defect_rate=0.2)
    load(warehouse, C["customers"], customers(), None)
    loaded = load(warehouse, C["orders"], orders_for_day(TEST_DAY, cfg), TEST_DAY)
    result = checks(warehouse, C["orders"], TEST_DAY, loaded.facts)["quarantine_rate"]
    assert not result.passed
    assert (meta(result, "rows_quarantined"), meta(result, "rows_extracted")) == (48, 240)
    assert (meta(result, "quarantine_rate"), meta(result, "threshold")) == (0.2, 0.1)
    kinds = Counter(defects("orders", TEST_DAY, cfg).values())
    assert meta(result, "reasons") == {
        "amount_cents: greater_than_or_equal_to(0)": kinds["negative_amount"],
        "status: isin(['completed', 'pending', 'cancelled', 'refunded'])": kinds["unknown_status"],
        "customer_id: not_nullable": kinds["null_customer"],
    }
    assert len(meta(result, "sample_quarantined (first 5)")) == 5


def _reason_histogram_of_1615_rows(warehouse) -> None:
    """More quarantined rows than any sample or scan limit: the histogram counts them all."""
    frame = orders_for_day(TEST_DAY, replace(CFG, orders_per_day=2000)).astype(object)
    frame.loc[0:1199, "status"] = "lost"
    frame.loc[800:1614, "amount_cents"] = -5  # rows 800-1199 hold both reasons
    loaded = load(warehouse, C["orders"], frame, TEST_DAY)
    assert (loaded.loaded, loaded.quarantined) == (385, 1615)
    result = checks(warehouse, C["orders"], TEST_DAY, loaded.facts)["quarantine_rate"]
    assert meta(result, "rows_quarantined") == 1615
    reasons = meta(result, "reasons")
    assert reasons == {
        "status: isin(['completed', 'pending', 'cancelled', 'refunded'])": 1200,
        "amount_cents: greater_than_or_equal_to(0)": 815,
    }
    assert list(reasons.values()) == [1200, 815]  # largest first
    assert "sample_quarantined" not in result.metadata
    assert len(meta(result, "sample_quarantined (first 5)")) == 5


def test_the_reason_histogram_counts_every_quarantined_row(warehouse) -> None:
    _reason_histogram_of_1615_rows(warehouse)


def test_the_reason_histogram_counts_every_quarantined_row_on_postgresql(make_pg_database) -> None:
    from platform_assets.warehouse.resource import Warehouse

    _reason_histogram_of_1615_rows(Warehouse(url=make_pg_database()))


def test_samples_never_show_pii(warehouse) -> None:
    cfg = replace(CFG, defect_rate=0.25)
    loaded = load(warehouse, C["customers"], customers(cfg), None)
    _insert(
        warehouse,
        "customers",
        {
            "customer_id": 7,
            "email": "secret@example.com",
            "full_name": "Secret Person",
            "country": "US",
            "acquisition_channel": "billboard",
            "signup_at": pd.Timestamp(TEST_DAY, tz="UTC").to_pydatetime(),
            "updated_at": pd.Timestamp(TEST_DAY, tz="UTC").to_pydatetime(),
        },
    )
    results = checks(warehouse, C["customers"], None, loaded.facts)
    text = json.dumps(
        {k: {m: str(v.value) for m, v in r.metadata.items()} for k, r in results.items()}
    )
    assert "@example.com" not in text and "Secret Person" not in text
    samples = meta(results["quarantine_rate"], "sample_quarantined (first 5)")
    assert samples and all(s["record"]["email"] == "<pii>" for s in samples)
    assert all(s["record"]["full_name"] == "<pii>" for s in samples)
    email_reasons = [r for s in samples for r in s["reasons"] if r["column"] == "email"]
    assert email_reasons and all(r["value"] == "<pii>" for r in email_reasons)
    [row] = meta(results["accepted_values_and_ranges"], "sample_failing_rows")
    assert row["acquisition_channel"] == "billboard" and "email" not in row


@pytest.mark.parametrize("table", ["customers", "marketing_spend"])
def test_quarantine_holds_exactly_the_bad_rows_with_their_reasons(warehouse, table) -> None:
    cfg = replace(CFG, defect_rate=0.4)
    if table == "customers":
        frame, day, key = customers(cfg), None, "customer_id"
        days = [FIRST_CUSTOMER_DAY + timedelta(days=d) for d in range(CUSTOMER_LOOKBACK_DAYS + 1)]
        expected = {k: v for d in days for k, v in defects("customers", d, cfg).items()}
    else:
        frame, day, key = marketing_spend_for_day(TEST_DAY, cfg), TEST_DAY, "channel"
        expected = defects("marketing_spend", TEST_DAY, cfg)
    loaded = load(warehouse, C[table], frame, day)
    rows = warehouse.query(
        'SELECT record, reasons, run_id FROM "platform"."quarantine" '
        "WHERE asset = :asset AND partition_key = :partition_key",
        {"asset": table, "partition_key": day.isoformat() if day else ""},
    )
    got = {
        json.loads(record)[key]: {r["column"] for r in json.loads(reasons)}
        for record, reasons, _ in rows
    }
    assert got == {k: {REASON_COLUMN[kind]} for k, kind in expected.items()}
    assert {run_id for *_, run_id in rows} == {"test-run"}
    assert loaded.loaded + loaded.quarantined == len(frame)  # conservation


def test_infinite_spend_is_quarantined_not_loaded_past_the_gates(warehouse) -> None:
    """``inf`` used to pass ``spend_usd >= 0`` and every gate, then fail the staging cast."""
    frame = marketing_spend_for_day(TEST_DAY, CFG).astype(object)
    frame.at[1, "spend_usd"] = "inf"
    loaded = load(warehouse, C["marketing_spend"], frame, TEST_DAY)
    assert (loaded.loaded, loaded.quarantined) == (len(frame) - 1, 1)
    [(reasons,)] = warehouse.query(
        'SELECT reasons FROM "platform"."quarantine" WHERE asset = :asset',
        {"asset": "marketing_spend"},
    )
    assert json.loads(reasons) == [
        {
            "column": "spend_usd",
            "check": "type(float64)",
            "value": "inf",
            "rule": "finite numbers only (allow_non_finite: false)",
        }
    ]
    [(infinite,)] = warehouse.query(
        "SELECT count(*) FROM raw.marketing_spend WHERE NOT isfinite(spend_usd)", {}
    )
    assert infinite == 0


def test_a_type_changed_in_the_warehouse_fails_schema_drift(warehouse) -> None:
    load_clean_day(warehouse)
    warehouse.query('ALTER TABLE "raw"."orders" ALTER COLUMN order_ts TYPE VARCHAR')
    result = checks(warehouse, C["orders"], TEST_DAY)["schema_drift"]
    assert not result.passed
    assert meta(result, "findings") == [
        {
            "where": "warehouse",
            "kind": "type_changed",
            "column": "order_ts",
            "detail": "contract timestamp, warehouse string",
            "tolerated": False,
        }
    ]


def _with_coupon(policy: str, position: int | None = None):
    coupon = Column("coupon", "string", "Coupon code.", nullable=False)
    columns = list(C["orders"].columns)
    columns.insert(len(columns) if position is None else position, coupon)
    return replace(C["orders"], columns=tuple(columns), drift_policy=policy)


def test_evolve_adds_a_new_contract_column_to_the_warehouse(warehouse) -> None:
    load_clean_day(warehouse)
    evolved = _with_coupon("evolve")
    frame = orders_for_day(TEST_DAY, CFG).assign(coupon="SPRING")
    loaded = load(warehouse, evolved, frame, TEST_DAY)
    assert loaded.facts.evolved == ("coupon",) and loaded.loaded == 240
    result = checks(warehouse, evolved, TEST_DAY, loaded.facts)["schema_drift"]
    assert result.passed
    assert meta(result, "evolved_columns") == ["coupon"]
    assert meta(result, "findings") == [
        {
            "where": "warehouse",
            "kind": "nullability_changed",
            "column": "coupon",
            "detail": "contract not null, warehouse nullable",
            "tolerated": True,
        }
    ]
    assert warehouse.query('SELECT DISTINCT coupon FROM "raw"."orders"') == [("SPRING",)]


@pytest.mark.parametrize(
    ("policy", "position", "hint"),
    [
        ("fail", None, "set drift_policy: evolve"),
        ("ignore_extra", None, "set drift_policy: evolve"),
        ("evolve", 2, "evolve only appends columns declared at the end of the contract"),
    ],
)
def test_a_contract_the_table_cannot_follow_fails_before_loading(
    warehouse, policy, position, hint
) -> None:
    load_clean_day(warehouse)
    with pytest.raises(SchemaDriftError) as error:
        prepare_table(warehouse, _with_coupon(policy, position))
    message = str(error.value)
    assert "missing in the table: ['coupon']" in message
    assert "orders.yaml" in message and f"drift_policy: {policy}" in message and hint in message
    assert warehouse.count(C["orders"], TEST_DAY) == 240  # nothing changed


def test_the_gates_speak_postgresql_too(make_pg_database) -> None:
    """jsonb quarantine records, information_schema names and bound parameters on PostgreSQL."""
    from platform_assets.warehouse.resource import Warehouse

    warehouse = Warehouse(url=make_pg_database())
    cfg = replace(CFG, defect_rate=0.1)
    load(warehouse, C["customers"], customers(cfg), None)
    orders = load(warehouse, C["orders"], orders_for_day(TEST_DAY, cfg), TEST_DAY)
    payments = payments_for_day(TEST_DAY, CFG)
    stray = payments.iloc[[0]].assign(payment_id=99, order_id=424242)
    paid = load(warehouse, C["payments"], pd.concat([payments, stray]), TEST_DAY)
    results = checks(warehouse, C["payments"], TEST_DAY, paid.facts)
    assert failed(results) == ["foreign_key_order_id"]
    fk = results["foreign_key_order_id"]
    bad_orders = defects("orders", TEST_DAY, cfg)
    assert meta(fk, "orphans_with_quarantined_parent") == int(
        payments["order_id"].isin(bad_orders).sum()
    )
    assert meta(fk, "orphans_unexplained") == 1
    assert [r["order_id"] for r in meta(fk, "sample_orphans")] == ["424242"]
    results = checks(warehouse, C["orders"], TEST_DAY, orders.facts)
    assert failed(results) == []  # 24 of 240 quarantined: exactly the 10% threshold passes
    assert meta(results["quarantine_rate"], "quarantine_rate") == 0.1
    assert meta(results["foreign_key_customer_id"], "orphans_with_quarantined_parent") > 0
    sample = meta(results["quarantine_rate"], "sample_quarantined (first 5)")
    assert sample and all(isinstance(s["record"], dict) for s in sample)
    assert meta(results["schema_drift"], "findings") == []
    customers_checks = checks(warehouse, C["customers"], None)
    assert {
        s["record"]["email"]
        for s in meta(customers_checks["quarantine_rate"], "sample_quarantined (first 5)")
    } == {"<pii>"}
