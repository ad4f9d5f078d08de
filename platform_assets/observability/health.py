"""``make health``: one line per asset, what an on-call engineer checks first.

Latest materialized partition, freshness against the contract, the checks evaluated with
the latest materialization, rows, quarantine rate and open alerts. ``--json`` for machines.
Reads the same DAGSTER_HOME/PLATFORM_HOME defaults as ``make run``.
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
from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import Contract, contracts
from platform_assets.contracts.model import LAYERS
from platform_assets.quality.evaluations import check_evaluations

MATERIALIZED = "MATERIALIZED"


@dataclass
class AssetHealth:
    asset: str
    layer: str
    latest_partition: str | None
    last_materialized: str | None  # ISO, UTC
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


def _metadata(event: Any) -> dict[str, Any]:
    materialization = event.asset_materialization if event is not None else None
    return {k: v.value for k, v in materialization.metadata.items()} if materialization else {}


def _checks(instance: dg.DagsterInstance, event: Any, asset: str) -> tuple[int, list[str]]:
    """The checks evaluated on this asset in the run of its latest materialization."""
    if event is None or not event.run_id:
        return 0, []
    latest: dict[str, bool] = {}
    for evaluation in check_evaluations(instance, event.run_id):
        if evaluation.asset_key.to_user_string() == asset:
            latest[evaluation.check_name] = evaluation.passed
    return sum(latest.values()), sorted(name for name, ok in latest.items() if not ok)


def asset_health(
    instance: dg.DagsterInstance, store: AlertStore | None, now: float
) -> list[AssetHealth]:
    alerts: dict[str, list[str]] = {}
    for row in store.open_alerts() if store is not None else []:
        alerts.setdefault(row.asset or "-", []).append(f"{row.severity}: {row.title}")
    ordered = sorted(contracts().values(), key=lambda c: (LAYERS.index(c.layer), c.table))
    rows = []
    for contract in ordered:
        event = instance.get_latest_materialization_event(dg.AssetKey(contract.table))
        fresh = freshness_of(instance, contract, now)
        meta = _metadata(event)
        passed, failed = _checks(instance, event, contract.table)
        rows.append(
            AssetHealth(
                asset=contract.table,
                layer=contract.layer,
                latest_partition=latest_partition(instance, contract),
                last_materialized=(
                    datetime.fromtimestamp(event.timestamp, UTC).isoformat(timespec="seconds")
                    if event is not None
                    else None
                ),
                freshness=fresh.state,
                lag_s=round(fresh.lag_s, 1) if fresh.lag_s is not None else None,
                checks_passed=passed,
                checks_failed=failed,
                rows=meta.get("dagster/partition_row_count", meta.get("rows_loaded")),
                table_rows=meta.get("dagster/row_count"),
                quarantine_rate=meta.get("quarantine_rate"),
                open_alerts=alerts.get(contract.table, []),
            )
        )
    return rows


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
    with dg.DagsterInstance.get() as instance:
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
