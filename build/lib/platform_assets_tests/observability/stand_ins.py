"""Tiny assets keyed like the contracts' tables, for observability tests that need runs in an
instance but not the whole pipeline (which test_end_to_end.py runs once)."""

from __future__ import annotations

import dagster as dg

from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import contracts
from platform_assets.contracts.model import PRIMARY_KEY_CHECK
from platform_assets.observability.lineage import lineage_metadata

DAY = "2026-03-10"


def raw_orders(flaky: bool = False) -> dg.AssetsDefinition:
    """Loads 240 rows, quarantines 6; ``flaky`` fails its first attempt (a step retry)."""
    attempts: list[int] = []

    @dg.asset(
        key="orders",
        partitions_def=daily_partitions,
        check_specs=[dg.AssetCheckSpec(PRIMARY_KEY_CHECK, asset="orders", blocking=True)],
        retry_policy=dg.RetryPolicy(max_retries=1),
    )
    def orders() -> dg.MaterializeResult:
        attempts.append(1)
        if flaky and len(attempts) == 1:
            raise ConnectionError("storefront API reset the connection")
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": 240,
                "rows_quarantined": 6,
                "quarantine_rate": 6 / 246,
                "dagster/partition_row_count": 240,
            },
            check_results=[dg.AssetCheckResult(check_name=PRIMARY_KEY_CHECK, passed=True)],
        )

    return orders


def mart(fails: bool = False) -> dg.AssetsDefinition:
    """``daily_revenue_by_country`` reading stg_orders; ``fails`` raises in the step."""

    @dg.asset(key="daily_revenue_by_country", partitions_def=daily_partitions, deps=["orders"])
    def daily_revenue_by_country() -> dg.MaterializeResult:
        if fails:
            raise RuntimeError("division by zero in booked_revenue_usd")
        contract = contracts()["daily_revenue_by_country"]
        return dg.MaterializeResult(
            metadata={
                "rows_loaded": 10,
                "dagster/partition_row_count": 10,
                **lineage_metadata(contract),
            }
        )

    return daily_revenue_by_country


def run(
    instance: dg.DagsterInstance, assets: list[dg.AssetsDefinition], **tags: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets, instance=instance, partition_key=DAY, raise_on_error=False, tags=tags or None
    )
