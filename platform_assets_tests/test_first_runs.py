"""Two first runs at once, on fresh PostgreSQL databases: both succeed.

Both `platform run` processes seed the same fresh source database, create the same warehouse
tables and claim the same pool of the same fresh Dagster instance at the same moment: the
DDL of the demo seed once collided on ``pg_type_typname_nsp_index`` and the instance's pool
setup on ``concurrency_limits_concurrency_key_key``.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import pytest
import sqlalchemy as sa

from platform_assets.automation.instance import open_instance
from platform_assets.automation.pools import ensure_pool_limits
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.launch import latest_complete_day
from platform_assets.demo.sql_source import seed_database
from platform_assets_tests.launcher import PLATFORM, user_env

REPO = Path(__file__).resolve().parents[1]


def first_run_env(tmp_path: Path, name: str, databases: dict[str, str]) -> dict[str, str]:
    env = user_env()
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
    envs = [first_run_env(tmp_path, name, databases) for name in ("first", "second")]
    procs = [
        subprocess.Popen(
            [str(PLATFORM), "run"],
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


def _seed(url: str, barrier: Any) -> str:
    barrier.wait(60)
    seed_database(
        url, DemoConfig(seed=3, customers_per_day=4), dt.date(2026, 3, 1), dt.date(2026, 3, 3)
    )
    return "seeded"


def _open_alert_store(url: str, barrier: Any) -> str:
    from platform_assets.alerts.store import AlertStore

    barrier.wait(60)
    AlertStore(url)  # creates its schema and tables
    return "opened"


def _set_pools(home: str, pg_env: dict[str, str], barrier: Any) -> str:
    os.environ.update(pg_env)
    with open_instance(home) as instance:  # both create the storage: that races too
        instance.event_log_storage.get_pool_limits()
        barrier.wait(60)
        ensure_pool_limits(instance, {"warehouse"})
        limits = instance.event_log_storage.get_pool_limits()
        return repr([(p.name, p.limit, p.from_default) for p in limits])


def at_once(target: Callable[..., str], *args: Any) -> list[str]:
    """``target(*args, barrier)`` in two fresh processes released together; their results."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        barrier = manager.Barrier(2)
        pending = [pool.apply_async(target, (*args, barrier)) for _ in range(2)]
        return [p.get(timeout=120) for p in pending]


def test_an_instance_whose_storage_another_process_just_created_opens(
    tmp_path: Path, make_pg_database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collision dagster-postgres does not retry (2 of 25 trials of two opens at once),
    replayed: the first open fails with PostgreSQL's own DuplicateObject, the next succeeds."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
    env = first_run_env(
        tmp_path, "open", {"instance": make_pg_database(), "warehouse": "", "source": ""}
    )
    for name, value in env.items():
        if name.startswith("DAGSTER_PG_"):
            monkeypatch.setenv(name, value)
    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    real_open = dg.DagsterInstance.from_config
    opens: list[str] = []

    def open_after_losing_the_race(*args: Any, **kwargs: Any) -> dg.DagsterInstance:
        opens.append("open")
        if len(opens) == 1:  # the error a concurrent creator's type gives, from PostgreSQL
            with engine.begin() as conn:
                conn.execute(sa.text("CREATE TEMP TABLE runs (id int)"))
                conn.execute(sa.text("CREATE TYPE pg_temp.runs AS (id int)"))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(dg.DagsterInstance, "from_config", open_after_losing_the_race)
    with open_instance(str(home)) as instance:
        assert instance.get_runs() == []
    assert opens == ["open", "open"]
    engine.dispose()


def test_two_seeds_of_one_fresh_source_database_at_once(make_pg_database) -> None:
    for _ in range(3):  # collided on pg_type_typname_nsp_index in 5 of 5 trials before
        url = make_pg_database()
        assert at_once(_seed, url) == ["seeded", "seeded"]
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT count(*) FROM customers")).scalar() == 12
        finally:
            engine.dispose()


def test_two_steps_open_the_alert_store_of_a_fresh_database_at_once(make_pg_database) -> None:
    """Two report steps of a backfill on Celery workers collided on CREATE TABLE (CI)."""
    for _ in range(3):
        assert at_once(_open_alert_store, make_pg_database()) == ["opened", "opened"]


def test_two_processes_set_up_the_pools_of_a_fresh_instance_at_once(
    tmp_path: Path, make_pg_database
) -> None:
    expected = repr([("warehouse", 8, True)])  # deploy/postgres/dagster.yaml: default_limit 8
    for trial in range(2):  # Dagster's own first claim collided in 4 of 4 trials
        home = tmp_path / f"dagster_home{trial}"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", home / "dagster.yaml")
        env = first_run_env(
            tmp_path, "pools", {"instance": make_pg_database(), "warehouse": "", "source": ""}
        )
        pg_env = {k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")}
        assert at_once(_set_pools, str(home), pg_env) == [expected, expected]
