"""The instance folder: the platform's default is created, a caller's missing one refused."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.home import EMBEDDED_INSTANCE, DagsterHomeMissing, prepare_environment
from platform_assets_tests.launcher import platform_run, user_env

REPO = Path(__file__).resolve().parents[1]


def test_the_default_instance_folder_is_created(tmp_path: Path) -> None:
    env = {"PLATFORM_HOME": str(tmp_path / "home")}
    prepare_environment(env)
    dagster_home = tmp_path / "home" / "dagster_home"
    assert env["DAGSTER_HOME"] == str(dagster_home)
    assert (dagster_home / "dagster.yaml").read_text() == EMBEDDED_INSTANCE


def test_the_default_folder_named_explicitly_is_created(tmp_path: Path) -> None:
    dagster_home = tmp_path / "home" / "dagster_home"
    env = {"PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(dagster_home)}
    prepare_environment(env)
    assert (dagster_home / "dagster.yaml").read_text() == EMBEDDED_INSTANCE


def test_an_existing_dagster_home_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "mine")}
    prepare_environment(env)
    assert env["DAGSTER_HOME"] == str(tmp_path / "mine")
    assert (tmp_path / "mine" / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"


def test_a_missing_dagster_home_is_refused_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "typo_home"
    env = {"PLATFORM_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(missing)}
    with pytest.raises(DagsterHomeMissing, match=f"DAGSTER_HOME={missing} does not exist"):
        prepare_environment(env)
    assert not missing.exists()
    assert not (tmp_path / "home").exists()


def test_platform_run_refuses_a_missing_dagster_home(tmp_path: Path) -> None:
    """The CLI says what is wrong in one line and exits 2, before it seeds or starts anything."""
    missing = tmp_path / "no_such_home"
    proc = platform_run(
        user_env(PLATFORM_HOME=str(tmp_path / "home"), DAGSTER_HOME=str(missing)), timeout_s=120
    )
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        f"platform run: DAGSTER_HOME={missing} does not exist (or is not a directory): create "
        "it, or unset DAGSTER_HOME to use the platform's default instance under "
        f"{tmp_path / 'home' / 'dagster_home'}"
    ]
    assert not missing.exists()
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    "name", ["dagster.yaml", "deploy/dagster.yaml", "deploy/postgres/dagster.yaml"]
)
def test_every_instance_frees_the_slots_of_runs_that_ended_without_freeing_them(name: str) -> None:
    """A killed run keeps its pool slots: run monitoring must free them (issue 12, item 1)."""
    config = yaml.safe_load((REPO / name).read_text())
    assert config["run_monitoring"]["enabled"] is True
    assert 0 < config["run_monitoring"]["free_slots_after_run_end_seconds"] <= 30


def test_the_root_instance_is_the_embedded_one() -> None:
    """``dagster dev`` from the root and ``make run``/``make dev`` get the same instance: the
    root file for Dagster's own commands, the package's copy for an installed wheel."""
    assert yaml.safe_load((REPO / "dagster.yaml").read_text()) == yaml.safe_load(EMBEDDED_INSTANCE)


@pytest.mark.parametrize("text", [EMBEDDED_INSTANCE, (REPO / "dagster.yaml").read_text()])
def test_the_embedded_instances_load_with_run_monitoring(tmp_path: Path, text: str) -> None:
    (tmp_path / "dagster.yaml").write_text(text)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 10
        # One DuckDB writer: a fresh `make dev` must not start its week of runs at once.
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
