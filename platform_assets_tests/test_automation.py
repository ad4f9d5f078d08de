"""Declarative automation on the real definitions: a transform follows its upstream
partition once that partition's blocking checks passed, and never after one failed.

The upstream is the real ``marketing_spend`` asset loading real drop files into DuckDB;
the conditions are evaluated as the automation sensor evaluates them, tick after tick.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.automation.partitions import daily_partitions
from platform_assets.definitions import build_definitions
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.drops import drop_content, drop_path
from platform_assets.sources.files import LandingDirectory
from platform_assets.warehouse.resource import Warehouse

LATEST = dt.date.fromisoformat(daily_partitions.get_last_partition_key())
GOOD_DAY, BAD_DAY = LATEST - dt.timedelta(days=3), LATEST - dt.timedelta(days=2)
RAW, STAGING = dg.AssetKey("marketing_spend"), dg.AssetKey("stg_marketing_spend")


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    return build_definitions()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


class Upstream:
    """Loads drop files with the real ``marketing_spend`` asset, as a drop run would."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, tmp: Path) -> None:
        self.asset = defs.get_assets_def(RAW)
        self.instance = instance
        self.landing = tmp / "landing"
        self.resources = {
            "warehouse": Warehouse(url=f"duckdb:///{tmp / 'warehouse.duckdb'}"),
            "agency_drops": LandingDirectory(path=str(self.landing)),
        }

    def load(self, day: dt.date, content: bytes) -> dg.ExecuteInProcessResult:
        path = drop_path(self.landing, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return dg.materialize(
            [self.asset],
            instance=self.instance,
            partition_key=day.isoformat(),
            resources=self.resources,
            raise_on_error=False,
        )


def failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return sorted(e.check_name for e in result.get_asset_check_evaluations() if not e.passed)


def test_staging_follows_a_loaded_partition_only_when_its_gates_passed(
    defs: dg.Definitions, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    upstream = Upstream(defs, instance, tmp_path)
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # nothing loaded: every transform waits for its inputs

    good = upstream.load(GOOD_DAY, drop_content(GOOD_DAY, DemoConfig(seed=3)))
    assert good.success and failed_checks(good) == []
    followed = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert followed.get_requested_partitions(STAGING) == {GOOD_DAY.isoformat()}
    assert followed.total_requested == 1  # the marts also read orders: still missing
    again = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=followed.cursor)
    assert again.total_requested == 0  # requested once, not on every tick

    # Two of five channels unknown: 40% quarantined, over the contract's 20% threshold.
    rows = drop_content(BAD_DAY, DemoConfig(seed=3)).splitlines(keepends=True)
    radio = [row.replace(b",search,", b",radio,").replace(b",email,", b",radio,") for row in rows]
    bad = upstream.load(BAD_DAY, b"".join(radio))
    assert "quarantine_rate" in " ".join(failed_checks(bad)), failed_checks(bad)
    blocked = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=again.cursor)
    assert blocked.total_requested == 0  # the partition's blocking gate failed
    assert instance.get_latest_materialization_event(RAW).asset_materialization.partition == (
        BAD_DAY.isoformat()
    )  # it was materialized all right: only the failed gate holds staging back
