"""Checks per partition: a partitioned asset's checks are partitioned like it, only ERROR
checks block, and one day's failed gate neither paints nor blocks another day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import contracts
from platform_assets.definitions import build_definitions
from platform_assets.demo.config import demo_landing_dir as landing_dir
from platform_assets.demo.drops import drop_path, write_drops
from platform_assets.quality.checks import check_specs
from platform_assets_tests.conftest import TEST_DAY, Platform
from platform_assets_tests.quality.test_gates import (
    evaluations,
    failure_descriptions,
    materialized,
    run,
)

PASSING, FAILING = (TEST_DAY - timedelta(days=1)).isoformat(), TEST_DAY.isoformat()
RAW, STAGED = "marketing_spend", "stg_marketing_spend"
SUCCEEDED, FAILED = (
    AssetCheckExecutionRecordStatus.SUCCEEDED,
    AssetCheckExecutionRecordStatus.FAILED,
)


@pytest.fixture(scope="module")
def graph() -> dg.AssetGraph:
    return build_definitions().resolve_asset_graph()


def test_every_check_of_a_partitioned_asset_has_its_partitions(graph) -> None:
    partitioned = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        for check_key in node.check_keys:
            spec = graph.get_check_spec(check_key)
            assert spec.partitions_def == node.partitions_def, check_key
            partitioned += node.partitions_def is not None
    assert partitioned == sum(len(c.check_names) for c in contracts().values() if c.is_partitioned)


def test_only_error_checks_are_blocking(graph) -> None:
    """A WARN check is reported, never blocks: it is not declared blocking either."""
    severities = {}
    for key in graph.get_all_asset_keys():
        if key.to_user_string() not in contracts():
            continue  # the quality report: no table, no checks
        contract = contracts()[key.to_user_string()]
        for check_key in graph.get(key).check_keys:
            spec = graph.get_check_spec(check_key)
            severity = contract.severity(check_key.name)
            severities[severity] = severities.get(severity, 0) + 1
            assert spec.blocking == (severity == "ERROR"), check_key
            assert ("never blocks" in (spec.description or "")) == (not spec.blocking), check_key
    assert severities["WARN"] == 2 and severities["ERROR"] > 40


def test_check_specs_refuse_partitions_unlike_the_asset() -> None:
    catalog = contracts()
    with pytest.raises(ValueError, match=r"checks of table customers need no partitions"):
        check_specs(catalog["customers"], catalog, daily_partitions)
    with pytest.raises(ValueError, match=r"checks of table orders need the asset's partitions"):
        check_specs(catalog["orders"], catalog, None)


def spoil_drop(platform: Platform, day: str) -> None:
    """Two of the day's five rows get a negative spend: 40% quarantined (max 20%) and three
    rows left (min 5), so the quarantine and volume gates of that day fail."""
    path = drop_path(Path(landing_dir(platform.env)), TEST_DAY.fromisoformat(day))
    header, *rows = (line.split(",") for line in path.read_text().splitlines())
    spend = header.index("spend_usd")
    for row in rows[:2]:
        row[spend] = f"-{row[spend]}"
    spoiled = [",".join(line) for line in (header, *rows)]
    path.write_text("\n".join(spoiled) + "\n")


def latest_per_partition(instance, asset: str, partition: str) -> dict[str, object]:
    """What the UI reads for one partition: the latest execution of each check there."""
    keys = [dg.AssetCheckKey(dg.AssetKey(asset), name) for name in contracts()[asset].check_names]
    found = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        keys, partition_filter=PartitionKeyFilter(key=partition)
    )
    return {key.name: record.status for key, record in found.items()}


def test_a_failed_day_neither_paints_nor_blocks_the_passing_day(make_platform) -> None:
    platform = make_platform()
    landing = Path(landing_dir(platform.env))
    write_drops(landing, platform.cfg, TEST_DAY - timedelta(days=1), TEST_DAY)
    spoil_drop(platform, FAILING)
    checks = contracts()[RAW].check_names
    with dg.DagsterInstance.ephemeral() as instance:
        good = run(platform, instance, RAW, STAGED, partition=PASSING)
        assert good.success and materialized(good) == {RAW, STAGED}
        bad = run(platform, instance, RAW, STAGED, partition=FAILING)
        assert not bad.success and materialized(bad) == {RAW}  # same run: staging skipped
        failed = {name for (asset, name), e in evaluations(bad).items() if not e.passed}
        assert failed == {"quarantine_rate", "volume_anomaly"}
        assert {e.partition for e in bad.get_asset_check_evaluations()} == {FAILING}

        # Each day keeps its own results: the passing day's checks stay passing.
        assert latest_per_partition(instance, RAW, PASSING) == dict.fromkeys(checks, SUCCEEDED)
        assert latest_per_partition(instance, RAW, FAILING) == {
            name: FAILED if name in failed else SUCCEEDED for name in checks
        }

        # A later run of the downstream alone: the passing day runs, the failed one is blocked.
        again = run(platform, instance, STAGED, partition=PASSING)
        assert again.success and materialized(again) == {STAGED}
        blocked = run(platform, instance, STAGED, partition=FAILING)
        assert not blocked.success and not materialized(blocked)
        [description] = failure_descriptions(blocked)
        assert description.startswith(
            f"Upstream gate failed, not consuming its data: {RAW}[{FAILING}]: check "
        )
        assert "quarantine_rate" in description and "volume_anomaly" in description
        assert PASSING not in description
