"""The shared dagster-postgres instance: the repository's dagster.yaml on a given database."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import yaml

from platform_assets.automation.instance import open_instance as open_platform_instance
from platform_assets_tests.scale.workers import REPO


def pg_instance_env(dagster_url: str) -> dict[str, str]:
    """DAGSTER_PG_* for the production dagster.yaml, pointing at ``dagster_url``."""
    db = urlparse(dagster_url)
    return {
        "DAGSTER_PG_USERNAME": db.username or "postgres",
        "DAGSTER_PG_PASSWORD": db.password or "",
        "DAGSTER_PG_HOST": db.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(db.port or 5432),
        "DAGSTER_PG_DB": db.path.lstrip("/"),
    }


def pg_dagster_home(home: Path, celery_runs: bool = False) -> Path:
    """A DAGSTER_HOME holding the repository's production dagster.yaml (PostgreSQL storage).

    ``celery_runs``: the Celery profile's deploy/dagster.yaml (runs are tasks on the runs
    queue) with runs launched as they are submitted (DefaultRunCoordinator), so that tests
    and benchmarks need no daemon: the runs worker's slots bound the runs in flight.
    """
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    if not celery_runs:
        shutil.copy(REPO / "deploy" / "postgres" / "dagster.yaml", dagster_home / "dagster.yaml")
        return dagster_home
    config = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    config["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return dagster_home


def open_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The instance of ``dagster_home``; DAGSTER_PG_* must be in this process's environment."""
    instance = open_platform_instance(str(dagster_home))
    if type(instance.run_storage).__name__ != "PostgresRunStorage":
        raise RuntimeError(f"{dagster_home} is not a PostgreSQL instance")
    return instance
