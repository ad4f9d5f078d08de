"""Two first runs at once, on fresh PostgreSQL databases: both succeed.

Both `platform run` processes seed the same fresh source database, create the same warehouse
tables and claim the same pool of the same fresh Dagster instance at the same moment: the
DDL of the demo seed once collided on ``pg_type_typname_nsp_index`` and the instance's pool
setup on ``concurrency_limits_concurrency_key_key``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest

from platform_assets.demo.launch import latest_complete_day

REPO = Path(__file__).resolve().parents[1]


def first_run_env(tmp_path: Path, name: str, databases: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    instance = urlsplit(databases["instance"])
    env.update(
        PLATFORM_HOME=str(tmp_path / name),
        PLATFORM_WAREHOUSE_URL=databases["warehouse"],
        PLATFORM_SOURCE_DB_URL=databases["source"],
        DAGSTER_HOME=str(tmp_path / "dagster_home"),
        DAGSTER_PG_USERNAME=instance.username or "postgres",
        DAGSTER_PG_PASSWORD=instance.password or "",
        DAGSTER_PG_HOST=instance.hostname or "127.0.0.1",
        DAGSTER_PG_PORT=str(instance.port or 5432),
        DAGSTER_PG_DB=instance.path.lstrip("/"),
    )
    return env


def test_two_first_runs_at_once_on_fresh_databases_both_succeed(
    tmp_path: Path, make_pg_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    databases = {name: make_pg_database() for name in ("warehouse", "source", "instance")}
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", dagster_home / "dagster.yaml")
    platform = Path(sys.executable).with_name("platform")
    envs = [first_run_env(tmp_path, name, databases) for name in ("first", "second")]
    procs = [
        subprocess.Popen(
            [str(platform), "run"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in envs
    ]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out[-3000:] + err[-3000:]
        assert f"partition {latest_complete_day()}" in out
    for name, value in envs[0].items():
        if name.startswith("DAGSTER_PG_"):
            monkeypatch.setenv(name, value)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and all(run.is_success for run in runs)
