"""One real pipeline run (demo API child process, DuckDB warehouse, persistent instance),
observed the ways an operator would: JSON logs, column lineage, OpenLineage events,
Prometheus metrics and the ``platform-health`` command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import contracts
from platform_assets.home import EMBEDDED_INSTANCE
from platform_assets.observability.health import asset_health
from platform_assets.observability.health import main as health_main
from platform_assets.observability.metrics import PlatformMetrics
from platform_assets.observability.openlineage import OpenLineage, openlineage_sensor
from platform_assets_tests.conftest import TEST_DAY

DAY = TEST_DAY.isoformat()
RAW = {"orders", "payments", "customers", "marketing_spend"}
EVENTS = {"shipment_events"}  # no broker here: nothing landed, so no chunk, 0 rows loaded


def partition_rows(platform, table: str) -> int:
    contract = contracts()[table]
    where = f'WHERE "{contract.partition_column}" = :day' if contract.is_partitioned else ""
    [(count,)] = platform.warehouse.query(
        f'SELECT count(*) FROM "{contract.schema}"."{table}" {where}',  # noqa: S608 - test
        {"day": TEST_DAY} if contract.is_partitioned else None,
    )
    return count


def test_one_run_observed_end_to_end(
    make_platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    """One pipeline run (seconds), then every way of observing it; each check names its part."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(EMBEDDED_INSTANCE)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("PLATFORM_LOG_FORMAT", "json")
    platform = make_platform()
    capfd.readouterr()
    with dg.DagsterInstance.get() as instance:
        result = platform.materialize(instance)
        assert result.success
        observed = (platform, instance, result, capfd.readouterr().out)
        check_every_pipeline_log_line_is_json_with_run_job_asset_partition(observed)
        check_ui_log_lines_stay_readable_with_their_fields(observed)
        check_marts_carry_column_lineage(observed)
        check_openlineage_events_per_asset_materialization(observed, tmp_path)
        check_metrics_and_health_report_the_run(observed)
    check_health_command_prints_the_table(capfd)


def check_every_pipeline_log_line_is_json_with_run_job_asset_partition(observed) -> None:
    _, _, result, stdout = observed
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(stdout.splitlines())  # stdout holds nothing but JSON lines
    assert {line["run_id"] for line in lines} == {result.run_id}
    assert {line["job"] for line in lines} == {"daily_job"}
    assert {line["asset"] for line in lines} == set(contracts())
    for line in lines:
        partitioned = contracts()[line["asset"]].is_partitioned
        assert line["partition"] == (DAY if partitioned else None), line
    chunks = [line for line in lines if line["chunk"] is not None]
    assert {line["asset"] for line in chunks} == RAW
    for table in RAW:
        numbers = [line["chunk"] for line in chunks if line["asset"] == table]
        assert numbers == list(range(1, len(numbers) + 1))
    assert all(line["message"].startswith(f"chunk {line['chunk']}: ") for line in chunks)
    loaded = [line for line in lines if line["message"].startswith("rows: ")]
    assert sorted(line["asset"] for line in loaded) == sorted(RAW | EVENTS)
    assert {line["level"] for line in lines} <= {"DEBUG", "INFO", "WARNING"}


def check_ui_log_lines_stay_readable_with_their_fields(observed) -> None:
    _, instance, result, _ = observed
    records = instance.all_logs(result.run_id)
    messages = [r.user_message for r in records if not r.is_dagster_event]
    orders_done = [m for m in messages if m.startswith("rows: ") and "asset=orders " in m]
    assert len(orders_done) == 1
    assert orders_done[0].endswith(f"[asset=orders partition={DAY}]")


def check_marts_carry_column_lineage(observed) -> None:
    _, instance, _, _ = observed
    event = instance.get_latest_materialization_event(dg.AssetKey("daily_revenue_by_country"))
    lineage = event.asset_materialization.metadata["dagster/column_lineage"].value
    deps = {
        column: sorted(f"{d.asset_key.to_user_string()}.{d.column_name}" for d in column_deps)
        for column, column_deps in lineage.deps_by_column.items()
    }
    assert deps["booked_revenue_usd"] == ["stg_orders.amount_usd", "stg_orders.is_revenue"]
    assert deps["country"] == ["stg_customers.country"]
    assert set(deps) == set(contracts()["daily_revenue_by_country"].column_names)


def check_openlineage_events_per_asset_materialization(observed, tmp_path: Path) -> None:
    platform, instance, result, _ = observed
    target = tmp_path / "lineage" / "events.jsonl"
    context = dg.build_sensor_context(
        instance=instance,
        definitions=platform.definitions(),
        resources={"openlineage": OpenLineage(file=str(target)), "warehouse": platform.warehouse},
    )
    outcome = openlineage_sensor(context)
    emitted = outcome.skip_reason.skip_message
    assert emitted == f"{2 * len(contracts())} event(s) emitted for 1 run(s)"
    events = [json.loads(line) for line in target.read_text().splitlines()]
    by_job: dict[str, list[str]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event["eventType"])
    assert by_job == {table: ["START", "COMPLETE"] for table in contracts()}
    [complete] = [
        e for e in events if e["job"]["name"] == "marketing_roas" and e["eventType"] == "COMPLETE"
    ]
    assert sorted(i["name"] for i in complete["inputs"]) == [
        "staging.stg_customers",
        "staging.stg_marketing_spend",
        "staging.stg_orders",
    ]
    [output] = complete["outputs"]
    assert output["name"] == "marts.marketing_roas"
    assert output["namespace"].startswith("duckdb:///")
    roas = output["facets"]["columnLineage"]["fields"]["roas"]["inputFields"]
    assert sorted(f"{f['name']}.{f['field']}" for f in roas) == [
        "staging.stg_marketing_spend.spend_usd",
        "staging.stg_orders.amount_usd",
    ]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == partition_rows(
        platform, "marketing_roas"
    )


def check_metrics_and_health_report_the_run(observed) -> None:
    platform, instance, result, _ = observed
    metrics = PlatformMetrics()
    assert metrics.poll(instance, None, time.time()) == 1
    sample = metrics.registry.get_sample_value
    for table in ("orders", "payments", "marketing_spend"):
        loaded = sample(
            "platform_partition_records", {"asset": table, "partition": DAY, "status": "loaded"}
        )
        assert loaded == partition_rows(platform, table)
        assert sample("platform_records_processed_total", {"asset": table, "status": "loaded"}) == (
            loaded
        )
    assert sample("platform_runs_total", {"job": "daily_job", "status": "SUCCESS"}) == 1
    assert (
        sample("platform_step_duration_seconds_count", {"asset": "orders", "status": "success"})
        == 1
    )
    checks = contracts()["orders"].check_names
    for check in checks:
        assert sample("platform_check_passed", {"asset": "orders", "check": check}) == 1
    assert sample("platform_freshness_state", {"asset": "orders"}) == 0

    health = {h.asset: h for h in asset_health(instance, None, time.time())}
    assert set(health) == set(contracts())
    for table, row in health.items():
        contract = contracts()[table]
        assert row.freshness == "fresh"
        assert row.latest_partition == (DAY if contract.is_partitioned else None)
        assert row.checks_failed == [] and row.checks_passed == len(contract.check_names)
        assert row.rows == partition_rows(platform, table)


def check_health_command_prints_the_table(capsys) -> None:
    """``make health`` runs this console entry point (platform-health)."""
    assert health_main([]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "asset",
        "latest",
        "partition",
        "freshness",
        "checks",
        "rows",
        "quarantine",
        "alerts",
    ]
    orders = next(line for line in table if line.startswith("orders "))
    assert DAY in orders and "fresh (" in orders and "none" in orders
    assert health_main(["--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert {row["asset"] for row in as_json} == set(contracts())
