"""The gates in Dagster, on the real demo sources: what blocks, in this run and in later ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS
from platform_assets.demo.config import demo_landing_dir as landing_dir
from platform_assets.demo.config import demo_source_db_url as source_db_url
from platform_assets.demo.generator import defects, orders_for_day, payments_for_day
from platform_assets.demo.sql_source import seed_database
from platform_assets.sources.files import DropPattern
from platform_assets_tests.conftest import TEST_CFG, TEST_DAY, Platform

WARN, ERROR = dg.AssetCheckSeverity.WARN, dg.AssetCheckSeverity.ERROR
PARTITION = TEST_DAY.isoformat()


def run(platform: Platform, instance: dg.DagsterInstance, *assets: str, partition: str = PARTITION):
    """A new run of only these assets for the partition (all of daily_job for TEST_DAY
    without any)."""
    if not assets:
        return platform.materialize(instance)
    return (
        platform.definitions()
        .resolve_job_def("daily_job")
        .execute_in_process(
            partition_key=partition,
            instance=instance,
            asset_selection=[dg.AssetKey(a) for a in assets],
            raise_on_error=False,
        )
    )


def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def failure_descriptions(result) -> list[str]:
    return [
        e.step_failure_data.user_failure_data.description
        for e in result.get_step_failure_events()
        if e.step_failure_data.user_failure_data is not None
    ]


def test_defects_pass_the_gates_and_orphans_are_accounted_for(make_platform) -> None:
    cfg = replace(TEST_CFG, defect_rate=0.05)
    platform = make_platform(cfg=cfg)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(platform, instance)
    assert result.success
    checks = evaluations(result)
    assert len(checks) == 56  # 51 + shipment_events' 5
    # The truth from the generator: quarantined parents and the rows that reference them.
    bad_orders = set(defects("orders", TEST_DAY, cfg))
    first = TEST_DAY - timedelta(days=CUSTOMER_LOOKBACK_DAYS)
    bad_customers = {
        k for d in range(CUSTOMER_LOOKBACK_DAYS + 1)
        for k in defects("customers", first + timedelta(days=d), cfg)
    }  # fmt: skip
    orders = orders_for_day(TEST_DAY, cfg)
    loaded_orders = orders[~orders["order_id"].isin(bad_orders)]
    payments = payments_for_day(TEST_DAY, cfg)
    loaded_payments = payments[~payments["payment_id"].isin(defects("payments", TEST_DAY, cfg))]
    orphan_payments = int(loaded_payments["order_id"].isin(bad_orders).sum())
    orphan_orders = int(loaded_orders["customer_id"].isin(bad_customers).sum())
    assert orphan_payments > 0 and orphan_orders > 0
    # Raw gates: the orphans are explained by the parents' quarantine and pass.
    for key, orphans in (
        (("payments", "foreign_key_order_id"), orphan_payments),
        (("orders", "foreign_key_customer_id"), orphan_orders),
    ):
        assert checks[key].passed and checks[key].severity == ERROR
        assert checks[key].metadata["orphans_with_quarantined_parent"].value == orphans
    # Staging inherits them with no quarantine of its own: reported as WARN, never blocking.
    failed = {
        k: (e.severity, e.metadata["orphan_rows"].value) for k, e in checks.items() if not e.passed
    }
    assert failed == {
        ("stg_payments", "foreign_key_order_id"): (WARN, orphan_payments),
        ("stg_orders", "foreign_key_customer_id"): (WARN, orphan_orders),
    }
    assert {"daily_revenue_by_country", "customer_lifetime_value"} <= materialized(result)
    sample = checks[("customers", "quarantine_rate")].metadata["sample_quarantined (first 5)"].value
    assert sample and {s["record"]["email"] for s in sample} == {"<pii>"}


def test_a_failed_gate_blocks_this_run_and_later_runs_until_fixed(make_platform) -> None:
    # A stale customers source: two days of signups, so most orders reference customers the
    # warehouse does not have and the orders foreign-key gate fails.
    platform = make_platform(customer_days=2)
    gate = ("orders", "foreign_key_customer_id")
    with dg.DagsterInstance.ephemeral() as instance:
        first = run(platform, instance)
        assert not first.success
        assert not evaluations(first)[gate].passed
        assert "stg_orders" not in materialized(first)  # same run: skipped by Dagster
        assert "orders" in materialized(first)  # the data is in the warehouse, but gated

        later = run(platform, instance, "stg_orders")  # a new run of the downstream alone
        assert not later.success and not materialized(later)
        [description] = failure_descriptions(later)
        assert description.startswith(
            f"Upstream gate failed, not consuming its data: orders[{PARTITION}]: "
            "check foreign_key_customer_id failed in run "
        )
        assert "re-materialize the upstream partition" in description
        assert len(later.get_step_failure_events()) == 1  # no retries of a gate

        restore_customers(platform)  # the source is fixed
        fixed = run(platform, instance, "customers", "orders")
        assert fixed.success
        assert evaluations(fixed)[gate].passed
        after = run(platform, instance, "stg_orders")
        assert after.success and materialized(after) == {"stg_orders"}
    [(rows,)] = platform.warehouse.query('SELECT count(*) FROM "staging"."stg_orders"')
    assert rows == TEST_CFG.orders_per_day


def test_a_missing_upstream_partition_fails_the_step_before_writing(make_platform) -> None:
    platform = make_platform()
    next_day = (TEST_DAY + timedelta(days=1)).isoformat()
    with dg.DagsterInstance.ephemeral() as instance:
        loaded = run(platform, instance, "customers", "orders")  # TEST_DAY only
        assert loaded.success
        later = run(platform, instance, "stg_orders", partition=next_day)
        assert not later.success and not materialized(later)
        [description] = failure_descriptions(later)
        assert description == (
            "Upstream never materialized in this Dagster instance, not reading it: "
            f"orders[{next_day}]. Materialize the upstream first, then this step."
        )
        assert len(later.get_step_failure_events()) == 1  # no retries: a re-run cannot help
        assert evaluations(later) == {}  # no check ran on a partition that was never written
        stg_orders = instance.get_latest_materialization_event(dg.AssetKey("stg_orders"))
        assert stg_orders is None  # the day does not count as materialized
    assert platform.warehouse.query(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'stg_orders'"
    ) == [(0,)]  # nothing was prepared or written before the failure


def restore_customers(platform: Platform) -> None:
    """What a real restore does: the missing rows come back with a fresh updated_at, so the
    incremental extraction (a high-water mark on updated_at) picks them up."""
    url = source_db_url(platform.env)
    first = TEST_DAY - timedelta(days=CUSTOMER_LOOKBACK_DAYS)
    seed_database(url, platform.cfg, first, TEST_DAY)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            now = datetime.now(UTC).replace(tzinfo=None)  # the source stores naive UTC
            conn.execute(sa.text("UPDATE customers SET updated_at = :now"), {"now": now})
    finally:
        engine.dispose()


def test_drift_under_policy_fail_fails_the_load_loudly_and_once(make_platform) -> None:
    platform = make_platform()
    drop = Path(landing_dir(platform.env)) / DropPattern.default("marketing_spend").relative_path(
        TEST_DAY
    )
    frame = pd.read_csv(drop, dtype=str)
    frame.insert(2, "currency", "USD")
    frame.to_csv(drop, index=False)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(platform, instance, "marketing_spend")
    assert not result.success and not materialized(result)
    [description] = failure_descriptions(result)
    assert description.startswith(
        "marketing_spend: extracted data drifted from contract agency_drops/marketing_spend.yaml "
        "(drift_policy: fail): unexpected columns ['currency']"
    )
    retried = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert retried == []
