"""Freshness state from the contract's windows and the last materialization, computed here.

The OSS FreshnessDaemon evaluates the same FreshnessPolicy for the UI, but keeps its state in
internal storage and alerts nobody; this module needs only public instance reads, so the
alert sensor, the health command and the metrics exporter agree on one answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import dagster as dg

from platform_assets.automation.partitions import PARTITIONS_START
from platform_assets.contracts import Contract

State = Literal["fresh", "warn", "fail", "unknown"]
STATE_VALUE: dict[str, int] = {"unknown": -1, "fresh": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True)
class Freshness:
    asset: str
    state: State  # unknown: never materialized
    last_materialized: float | None  # epoch seconds
    partition: str | None  # of the latest materialization
    lag_s: float | None

    def describe(self, contract: Contract) -> str:
        windows = (
            f"warns after {human(contract.freshness.warn_after)}, "
            f"fails after {human(contract.freshness.fail_after)}"
        )
        if self.last_materialized is None or self.lag_s is None:
            return f"{self.asset} was never materialized (its SLO {windows})."
        when = datetime.fromtimestamp(self.last_materialized, UTC).strftime("%Y-%m-%d %H:%M UTC")
        part = f" (partition {self.partition})" if self.partition else ""
        return (
            f"{self.asset} was last materialized {human(timedelta(seconds=self.lag_s))} ago, "
            f"at {when}{part}; its SLO {windows}."
        )


def human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def state_for(contract: Contract, lag_s: float | None) -> State:
    if lag_s is None:
        return "unknown"
    if lag_s > contract.freshness.fail_after.total_seconds():
        return "fail"
    if lag_s > contract.freshness.warn_after.total_seconds():
        return "warn"
    return "fresh"


def freshness_of(instance: dg.DagsterInstance, contract: Contract, now: float) -> Freshness:
    event = instance.get_latest_materialization_event(dg.AssetKey(contract.table))
    if event is None:
        return Freshness(contract.table, "unknown", None, None, None)
    materialization = event.asset_materialization
    partition = materialization.partition if materialization else None
    lag = max(now - event.timestamp, 0.0)
    return Freshness(contract.table, state_for(contract, lag), event.timestamp, partition, lag)


def due_partition(contract: Contract, now: float) -> str | None:
    """The partition whose deadline has passed: yesterday's, once today's deadline is reached."""
    if contract.deadline is None:
        return None
    moment = datetime.fromtimestamp(now, UTC)
    if moment.time() < contract.deadline:
        return None
    day = (moment.date() - timedelta(days=1)).isoformat()
    return day if day >= PARTITIONS_START else None


def partition_materialized_at(
    instance: dg.DagsterInstance, asset: str, partition: str
) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    return records[0].timestamp if records else None
