"""The code location as a whole: a snapshot so no refactor silently drops an asset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.contracts import contracts
from platform_assets.definitions import build_definitions

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def describe(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitioned": node.partitions_def is not None,
            "checks": sorted(c.name for c in node.check_keys),
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "freshness_policy": node.freshness_policy is not None,
            "has_description": bool(node.description),
        }
    repo = defs.get_repository_def()
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in repo.get_all_jobs() if not j.name.startswith("__")),
        "schedules": {
            s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
            for s in repo.schedule_defs
        },
        "sensors": sorted(s.name for s in repo.sensor_defs),
    }


def test_definitions_match_snapshot() -> None:
    """To accept an intended change: PLATFORM_UPDATE_SNAPSHOTS=1 make test, and review it."""
    current = describe(build_definitions())
    if os.environ.get("PLATFORM_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_owner_description_freshness_and_a_blocking_check() -> None:
    defs = build_definitions()
    graph = defs.resolve_asset_graph()
    tables = set(contracts())
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if key.to_user_string() not in tables:  # the quality report reads tables, is none
            assert key.to_user_string() == "quality_report" and node.description, key
            continue
        assert node.owners and node.description and node.freshness_policy, key
        specs = [graph.get_check_spec(check_key) for check_key in node.check_keys]
        assert any(s.blocking for s in specs), f"{key} has no blocking check"


def test_daily_schedule_runs_yesterdays_partition() -> None:
    defs = build_definitions()
    schedule = defs.resolve_schedule_def("daily_job_schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    tick = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        data = schedule.evaluate_tick(context)
    assert [r.partition_key for r in data.run_requests] == ["2026-11-20"]


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "PLATFORM_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["deploy/postgres/dagster.yaml"])
def test_production_instance_config_reads_credentials_from_env_only(name: str) -> None:
    text = (REPO / name).read_text()
    for field in ("username", "password", "hostname", "db_name", "port"):
        assert f"{field}: {{env: DAGSTER_PG_" in text, field
    assert "scheme: postgresql+psycopg2" in text
