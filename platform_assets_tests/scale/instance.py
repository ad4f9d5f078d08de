"""The shared dagster-postgres instance: the repository's dagster.yaml on a given database."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg

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


def pg_dagster_home(home: Path) -> Path:
    """A DAGSTER_HOME holding the repository's production dagster.yaml (PostgreSQL storage)."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def open_instance(dagster_home: Path) -> dg.DagsterInstance:
    """The instance of ``dagster_home``; DAGSTER_PG_* must be in this process's environment."""
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    if type(instance.run_storage).__name__ != "PostgresRunStorage":
        raise RuntimeError(f"{dagster_home} is not a PostgreSQL instance")
    return instance
