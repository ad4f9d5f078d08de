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

from platform_assets.components.common import ConfigError
from platform_assets.components.metadata import repository_links
from platform_assets.contracts import contracts
from platform_assets.definitions import build_definitions
from platform_assets.processes import default_signals, stop_group

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
            "tags": {k: v for k, v in sorted(node.tags.items()) if k.startswith("platform/")},
            "freshness_policy": node.freshness_policy is not None,
            "has_description": bool(node.description),
            "automation": node.automation_condition.get_label()
            if node.automation_condition
            else None,
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


def test_definitions_match_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    """To accept an intended change: PLATFORM_UPDATE_SNAPSHOTS=1 make test, and review it.
    On the embedded default (the warehouse's kind is part of the snapshot)."""
    monkeypatch.delenv("PLATFORM_WAREHOUSE_URL", raising=False)
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


# A Dagster user's first commands, run from the repository root with no environment at all:
# Dagster then reads ./dagster.yaml (the embedded default), never the production instance.
FIRST_COMMANDS = {
    "dagster definitions validate": (
        ["dagster", "definitions", "validate", "-w", "workspace.yaml"],
        "All code locations passed validation.",
    ),
    "dg check defs": (["dg", "check", "defs"], "All definitions loaded successfully."),
}


def test_first_commands_pass_from_the_root_with_an_empty_environment(tmp_path: Path) -> None:
    """``env -i PATH HOME``: no DAGSTER_HOME, no PLATFORM_*, no DAGSTER_PG_*, no venv on PATH."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path)}
    bin_dir = Path(sys.executable).parent
    before = sorted(p.name for p in REPO.iterdir())
    procs = {
        name: subprocess.Popen(
            [str(bin_dir / argv[0]), *argv[1:]],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=default_signals,
        )
        for name, (argv, _) in FIRST_COMMANDS.items()
    }
    outputs = {}
    try:
        for name, proc in procs.items():
            outputs[name] = proc.communicate(timeout=180)[0]
    finally:
        for proc in procs.values():
            stop_group(proc, timeout_s=5)
    for name, (_, success) in FIRST_COMMANDS.items():
        assert procs[name].returncode == 0, f"{name}:\n{outputs[name][-4000:]}"
        assert success in outputs[name], f"{name}:\n{outputs[name][-4000:]}"
        assert "DAGSTER_PG" not in outputs[name]
    assert sorted(p.name for p in REPO.iterdir()) == before  # no temporary instance left


@pytest.mark.parametrize("name", ["deploy/postgres/dagster.yaml"])
def test_production_instance_config_reads_credentials_from_env_only(name: str) -> None:
    text = (REPO / name).read_text()
    for field in ("username", "password", "hostname", "db_name", "port"):
        assert f"{field}: {{env: DAGSTER_PG_" in text, field
    assert "scheme: postgresql+psycopg2" in text


def specs_by_key(env: dict[str, str | None]) -> dict[str, dg.AssetSpec]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        defs = build_definitions()
    specs = defs.resolve_all_asset_specs()  # the tables: the quality report reads them, is none
    return {s.key.to_user_string(): s for s in specs if s.key.to_user_string() != "quality_report"}


@pytest.fixture(scope="module")
def embedded() -> dict[str, dg.AssetSpec]:
    return specs_by_key({"PLATFORM_WAREHOUSE_URL": None, "PLATFORM_REPO_URL": None})


def references(spec: dg.AssetSpec) -> list[Any]:
    return spec.metadata["dagster/code_references"].code_references


def test_kinds_name_the_source_and_the_embedded_warehouse(embedded) -> None:
    assert {key: set(spec.kinds) for key, spec in embedded.items()} == {
        "customers": {"sql", "pandas", "duckdb"},
        "orders": {"api", "pandas", "duckdb"},
        "payments": {"api", "pandas", "duckdb"},
        "marketing_spend": {"csv", "pandas", "duckdb"},
        "shipment_events": {"rabbitmq", "pandas", "duckdb"},
        **{t: {"sql", "duckdb"} for t in ("stg_customers", "stg_orders", "stg_payments")},
        **{t: {"sql", "duckdb"} for t in ("stg_marketing_spend", "daily_revenue_by_country")},
        **{t: {"sql", "duckdb"} for t in ("marketing_roas", "customer_lifetime_value")},
    }


def test_tags_say_layer_source_systems_and_pii(embedded) -> None:
    def platform_tags(key: str) -> dict[str, str]:
        return {k: v for k, v in embedded[key].tags.items() if k.startswith("platform/")}

    assert platform_tags("customers") == {
        "platform/layer": "raw",
        "platform/pii": "true",  # email and full_name are marked pii in its contract
        "platform/source": "storefront_db",
        "platform/source.storefront_db": "",
    }
    assert platform_tags("stg_orders") == {
        "platform/layer": "staging",
        "platform/pii": "false",
        "platform/source": "storefront_api",
        "platform/source.storefront_api": "",
    }
    assert platform_tags("marketing_roas") == {  # through stg_orders, stg_customers, spend
        "platform/layer": "marts",
        "platform/pii": "false",
        "platform/source.agency_drops": "",
        "platform/source.storefront_api": "",
        "platform/source.storefront_db": "",
    }
    assert {t for t, s in embedded.items() if s.tags["platform/pii"] == "true"} == {
        "customers",
        "stg_customers",
    }


def test_every_asset_links_its_contract_its_sql_and_its_configuration(embedded) -> None:
    for key, spec in embedded.items():
        refs = {Path(r.file_path).relative_to(REPO).as_posix(): r for r in references(spec)}
        contract = f"platform_assets/defs/{spec.metadata['contract']}"
        folder = Path(contract).parent.as_posix()
        expected = {contract, f"{folder}/defs.yaml"}
        if spec.tags["platform/layer"] == "raw":
            expected.add("platform_assets/components/raw_asset.py")
        else:
            expected |= {f"{folder}/{key}.sql", "platform_assets/components/sql_asset.py"}
        assert set(refs) == expected, key
        assert refs[contract].label == f"contract: {Path(contract).name}"
        assert all((REPO / path).is_file() for path in refs), key


def test_a_repository_url_turns_the_links_into_urls_and_postgres_is_the_kind() -> None:
    specs = specs_by_key(
        {
            "PLATFORM_WAREHOUSE_URL": "postgresql://etl@db.invalid:5432/warehouse",
            "PLATFORM_REPO_URL": "https://github.com/acme/data-platform/",
            "PLATFORM_REPO_BRANCH": "release-1",
        }
    )
    assert set(specs["stg_orders"].kinds) == {"sql", "postgres"}
    assert set(specs["orders"].kinds) == {"api", "pandas", "postgres"}
    urls = {r.url: r.label for r in references(specs["stg_orders"])}
    base = "https://github.com/acme/data-platform/tree/release-1/platform_assets"
    assert {u.split("#")[0]: label for u, label in urls.items()} == {
        f"{base}/defs/staging/stg_orders.yaml": "contract: stg_orders.yaml",
        f"{base}/defs/staging/stg_orders.sql": "SQL: stg_orders.sql",
        f"{base}/defs/staging/defs.yaml": None,
        f"{base}/components/sql_asset.py": None,
    }
    assert f"{base}/defs/staging/defs.yaml#L2" in urls  # the component's line in its file


def test_a_repository_url_on_another_host_or_with_a_token_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="PLATFORM_REPO_URL must be a GitHub or GitLab"):
        repository_links({"PLATFORM_REPO_URL": "https://git.example.com/acme/platform"})
    token = "ghp_tok3n9"
    with pytest.raises(ConfigError, match="PLATFORM_REPO_URL must not hold credentials") as err:
        repository_links({"PLATFORM_REPO_URL": f"https://x:{token}@github.com/acme/platform"})
    assert token not in str(err.value)
