"""``make health``: one line per asset, what an on-call engineer checks first.

Latest materialized partition, freshness against the contract, then the checks, rows and
quarantine rate OF THAT PARTITION (its latest materialization: a backfill of an older day
run afterwards never lends it its figures), and open alerts. Freshness is the asset's, as
its policy and alerts judge it (the newest materialization of any partition).
``--json`` for machines. Reads the same DAGSTER_HOME/PLATFORM_HOME defaults as ``make run``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from platform_assets.alerts.freshness import freshness_of, human
from platform_assets.alerts.resource import alert_state_url
from platform_assets.alerts.store import AlertStore
from platform_assets.automation.instance import open_instance
from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import Contract, contracts
from platform_assets.contracts.model import LAYERS
from platform_assets.quality.evaluations import check_evaluations, evaluations_of

MATERIALIZED = "MATERIALIZED"


@dataclass
class AssetHealth:
    asset: str
    layer: str
    latest_partition: str | None
    last_materialized: str | None  # ISO, UTC: the named partition's latest materialization
    freshness: str  # fresh | warn | fail | unknown
    lag_s: float | None
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)
    rows: int | None = None  # of the latest materialization (its partition, if partitioned)
    table_rows: int | None = None
    quarantine_rate: float | None = None
    open_alerts: list[str] = field(default_factory=list)


def latest_partition(instance: dg.DagsterInstance, contract: Contract) -> str | None:
    if not contract.is_partitioned:
        return None
    status = instance.get_status_by_partition(
        dg.AssetKey(contract.table), daily_partitions.get_partition_keys(), daily_partitions
    )
    done = [key for key, state in (status or {}).items() if state and state.value == MATERIALIZED]
    return max(done) if done else None


def named_record(
    instance: dg.DagsterInstance, contract: Contract, partition: str | None
) -> dg.EventLogRecord | None:
    """The latest materialization of the partition the row names (of the asset, when the
    asset is unpartitioned)."""
    key = dg.AssetKey(contract.table)
    if contract.is_partitioned:
        if partition is None:
            return None
        records_filter: dg.AssetKey | dg.AssetRecordsFilter = dg.AssetRecordsFilter(
            asset_key=key, asset_partitions=[partition]
        )
    else:
        records_filter = key
    records = instance.fetch_materializations(records_filter, limit=1).records
    return records[0] if records else None


def _metadata(record: dg.EventLogRecord | None) -> dict[str, Any]:
    materialization = record.asset_materialization if record is not None else None
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def _checks(
    instance: dg.DagsterInstance, record: dg.EventLogRecord | None
) -> tuple[int, list[str]]:
    """The checks evaluated on this very materialization (its partition)."""
    if record is None:
        return 0, []
    latest: dict[str, bool] = {}
    for evaluation in evaluations_of(record, check_evaluations(instance, record.run_id)):
        latest[evaluation.check_name] = evaluation.passed
    return sum(latest.values()), sorted(name for name, ok in latest.items() if not ok)


def health_of(
    instance: dg.DagsterInstance, contract: Contract, alerts: list[str], now: float
) -> AssetHealth:
    """One row: every figure but freshness belongs to the partition it names."""
    partition = latest_partition(instance, contract)
    record = named_record(instance, contract, partition)
    fresh = freshness_of(instance, contract, now)
    meta = _metadata(record)
    passed, failed = _checks(instance, record)
    return AssetHealth(
        asset=contract.table,
        layer=contract.layer,
        latest_partition=partition,
        last_materialized=(
            datetime.fromtimestamp(record.timestamp, UTC).isoformat(timespec="seconds")
            if record is not None
            else None
        ),
        freshness=fresh.state,
        lag_s=round(fresh.lag_s, 1) if fresh.lag_s is not None else None,
        checks_passed=passed,
        checks_failed=failed,
        rows=meta.get("dagster/partition_row_count", meta.get("rows_loaded")),
        table_rows=meta.get("dagster/row_count"),
        quarantine_rate=meta.get("quarantine_rate"),
        open_alerts=alerts,
    )


def asset_health(
    instance: dg.DagsterInstance, store: AlertStore | None, now: float
) -> list[AssetHealth]:
    alerts: dict[str, list[str]] = {}
    for row in store.open_alerts() if store is not None else []:
        alerts.setdefault(row.asset or "-", []).append(f"{row.severity}: {row.title}")
    ordered = sorted(contracts().values(), key=lambda c: (LAYERS.index(c.layer), c.table))
    return [health_of(instance, c, alerts.get(c.table, []), now) for c in ordered]


def _cells(h: AssetHealth) -> tuple[str, ...]:
    lag = f" ({human(timedelta(seconds=h.lag_s))} ago)" if h.lag_s is not None else ""
    checks = f"{h.checks_passed}/{h.checks_passed + len(h.checks_failed)} passed"
    if h.checks_failed:
        checks += f" (failed: {', '.join(h.checks_failed)})"
    return (
        h.asset,
        h.latest_partition or ("-" if h.last_materialized else "never"),
        f"{h.freshness}{lag}",
        checks if h.last_materialized else "-",
        "-" if h.rows is None else str(h.rows),
        "-" if h.quarantine_rate is None else f"{100 * h.quarantine_rate:.2f}%",
        "; ".join(h.open_alerts) if h.open_alerts else "none",
    )


def format_health(rows: Sequence[AssetHealth]) -> str:
    header = ("asset", "latest partition", "freshness", "checks", "rows", "quarantine", "alerts")
    body = [_cells(h) for h in rows]
    widths = [max(len(r[i]) for r in (header, *body)) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (header, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def report(env: Mapping[str, str], as_json: bool) -> str:
    store = AlertStore(alert_state_url(env))
    with open_instance() as instance:
        rows = asset_health(instance, store, time.time())
    if as_json:
        return json.dumps([asdict(r) for r in rows], indent=2)
    return format_health(rows)


def main(argv: list[str] | None = None) -> int:
    from platform_assets.home import prepare_environment

    parser = argparse.ArgumentParser(prog="platform-health", description=__doc__)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    prepare_environment(os.environ)  # type: ignore[arg-type]
    print(report(os.environ, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
