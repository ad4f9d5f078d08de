"""Resources per environment, chosen in one function.

Embedded by default (DuckDB file and demo sources under PLATFORM_HOME); PostgreSQL when
PLATFORM_WAREHOUSE_URL is set. Secrets (the API token, database URLs with passwords) are
passed as dg.EnvVar so they are read at run time and never stored in run config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.sources.files import LandingDirectory
from platform_assets.sources.rest import RestApi
from platform_assets.sources.sql import SqlDatabase
from platform_assets.warehouse.resource import Warehouse

DEFAULT_API_URL = "http://127.0.0.1:8765"


def platform_home(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("PLATFORM_HOME", ".platform")).resolve()


def embedded_warehouse_url(env: Mapping[str, str] = os.environ) -> str:
    return f"duckdb:///{platform_home(env) / 'warehouse.duckdb'}"


def source_db_url(env: Mapping[str, str] = os.environ) -> str:
    default = f"sqlite:///{platform_home(env) / 'demo' / 'storefront.db'}"
    return env.get("PLATFORM_SOURCE_DB_URL", default)


def landing_dir(env: Mapping[str, str] = os.environ) -> str:
    return env.get("PLATFORM_LANDING_DIR", str(platform_home(env) / "landing"))


def _secret_or_default(env: Mapping[str, str], name: str, default: str) -> Any:
    return dg.EnvVar(name) if env.get(name) else default


def build_resources(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    return {
        "warehouse": Warehouse(
            url=_secret_or_default(env, "PLATFORM_WAREHOUSE_URL", embedded_warehouse_url(env))
        ),
        "storefront_api": RestApi(
            base_url=env.get("PLATFORM_API_URL", DEFAULT_API_URL),
            token=dg.EnvVar("PLATFORM_API_TOKEN"),
            page_size=int(env.get("PLATFORM_API_PAGE_SIZE", "1000")),
        ),
        "storefront_db": SqlDatabase(
            url=_secret_or_default(env, "PLATFORM_SOURCE_DB_URL", source_db_url(env))
        ),
        "landing": LandingDirectory(path=landing_dir(env)),
    }
