"""``make health`` never mixes partitions: every figure on a row is the named partition's."""

import time

import dagster as dg

from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts.model import PRIMARY_KEY_CHECK
from platform_assets.observability.health import asset_health

NEWEST, OLDER = "2026-11-30", "2026-11-27"
# rows, quarantine rate, primary key check passed: different for each day
FIGURES = {NEWEST: (200, 0.01, True), OLDER: (150, 0.05, False)}


@dg.asset(
    key="orders",
    partitions_def=daily_partitions,
    check_specs=[
        dg.AssetCheckSpec(
            PRIMARY_KEY_CHECK, asset="orders", blocking=True, partitions_def=daily_partitions
        )
    ],
)
def orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    rows, rate, passed = FIGURES[context.partition_key]
    return dg.MaterializeResult(
        metadata={
            "rows_loaded": rows,
            "dagster/partition_row_count": rows,
            "quarantine_rate": rate,
        },
        check_results=[dg.AssetCheckResult(check_name=PRIMARY_KEY_CHECK, passed=passed)],
    )


def test_a_row_shows_the_figures_of_the_partition_it_names() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        for day in (NEWEST, OLDER):  # the older day backfilled after the newest one
            dg.materialize([orders], instance=instance, partition_key=day, raise_on_error=False)
        [row] = [h for h in asset_health(instance, None, time.time()) if h.asset == "orders"]
        newest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("orders"), asset_partitions=[NEWEST]),
            limit=1,
        ).records[0]
    assert row.latest_partition == NEWEST
    assert (row.rows, row.quarantine_rate) == (200, 0.01)
    assert (row.checks_passed, row.checks_failed) == (1, [])
    assert row.last_materialized is not None
    assert row.last_materialized.startswith(
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(newest.timestamp)))
    )
