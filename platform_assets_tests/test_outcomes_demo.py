"""The demo company with defects through the whole daily job: outcomes equal the snapshot.

Issue 14: a speed-up (columnar validation, one-scan gates, overlapped load) must not change
what is loaded, quarantined and why, or any gate's verdict. Every source kind runs here (REST
orders and payments, SQL customers, CSV marketing spend) with defects planted by the demo
generator; the digest of each raw table and each of their gates' verdicts must equal
snapshots/outcomes.json (outcomes.py says how to accept an intended change).
"""

from __future__ import annotations

import dagster as dg

from platform_assets.contracts import contracts
from platform_assets.demo.config import DemoConfig
from platform_assets.warehouse.sql import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    qualified,
    table_name,
)
from platform_assets_tests.conftest import Platform
from platform_assets_tests.outcomes import gate_verdicts, snapshot_entry, table_digest

DEFECTIVE = DemoConfig(seed=14, orders_per_day=1_500, customers_per_day=40, defect_rate=0.05)


def raw_digest(platform: Platform) -> dict[str, dict]:
    """Per raw table: the day's loaded rows (all rows when unpartitioned) and quarantine."""
    warehouse, digests = platform.warehouse, {}
    for contract in sorted(contracts().values(), key=lambda c: c.table):
        if contract.layer != "raw":
            continue
        select = f"SELECT {column_list(contract.column_names)} FROM {table_name(contract)}"  # noqa: S608
        if contract.partition_column:
            select += f" WHERE {column_list([contract.partition_column])} = :day"
        loaded = warehouse.query(
            select, {"day": platform.day} if contract.partition_column else None
        )
        quarantined = warehouse.query(
            f"SELECT record, reasons FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} "  # noqa: S608
            "WHERE asset = :asset",
            {"asset": contract.table},
        )
        digests[contract.table] = table_digest(loaded, quarantined)
    return digests


def test_demo_outcomes_with_defects_match_the_committed_digest(make_platform) -> None:
    platform = make_platform(cfg=DEFECTIVE)
    job = platform.definitions().resolve_job_def("daily_job")
    raw = [dg.AssetKey(c.table) for c in contracts().values() if c.layer == "raw"]
    with dg.DagsterInstance.ephemeral() as instance:  # the raw tables: where outcomes arise
        result = job.execute_in_process(
            partition_key=platform.day.isoformat(), instance=instance, asset_selection=raw
        )
    assert result.success
    digest = {"tables": raw_digest(platform), "gates": gate_verdicts(result)}
    assert sum(t["quarantined"] for t in digest["tables"].values()) > 0  # defects did arrive
    assert digest == snapshot_entry("demo_defects", digest)
    assert_timings_reported(result)


PHASES = {"extract_s", "validate_s", "load_s", "commit_s", "count_s", "gates_s", "total_s"}


def assert_timings_reported(result: dg.ExecuteInProcessResult) -> None:
    """Where a raw step spends its time is in its metadata (bench/materialize.py reads it)."""
    raw = {c.table for c in contracts().values() if c.layer == "raw"}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization.asset_key.to_user_string() in raw:
            timings = materialization.metadata["phase_timings"].value
            assert set(timings) == PHASES, materialization.asset_key
            assert all(seconds >= 0 for seconds in timings.values())
            parts = sum(v for k, v in timings.items() if k != "total_s")
            assert parts <= timings["total_s"] + 0.01  # rounding
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.metadata["duration_s"].value >= 0 for e in evaluations)
