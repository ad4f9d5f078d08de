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


def _number(env: Mapping[str, str], name: str, default: str, kind: type = float) -> Any:
    raw = env.get(name, default)
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _api_credentials(env: Mapping[str, str]) -> dict[str, Any]:
    """PLATFORM_API_AUTH picks the scheme; the secrets stay EnvVars (read at run time)."""
    kind = env.get("PLATFORM_API_AUTH", "bearer")
    if kind in ("bearer", "api_key"):
        header = env.get("PLATFORM_API_KEY_HEADER", "X-API-Key")
        return {"auth": kind, "token": dg.EnvVar("PLATFORM_API_TOKEN"), "api_key_header": header}
    if kind == "basic":
        return {
            "auth": kind,
            "username": env.get("PLATFORM_API_USERNAME", ""),
            "password": dg.EnvVar("PLATFORM_API_PASSWORD"),
        }
    return {"auth": kind}


def rest_api(env: Mapping[str, str] = os.environ) -> RestApi:
    """The storefront API client; the rate-limit bucket is a SQLite file shared by every
    process on this machine unless PLATFORM_API_RATE_LIMIT_STORE names a PostgreSQL URL."""
    store = env.get("PLATFORM_API_RATE_LIMIT_STORE", str(platform_home(env) / "ratelimit.sqlite"))
    return RestApi(
        base_url=env.get("PLATFORM_API_URL", DEFAULT_API_URL),
        **_api_credentials(env),
        page_size=_number(env, "PLATFORM_API_PAGE_SIZE", "1000", int),
        connect_timeout_s=_number(env, "PLATFORM_API_CONNECT_TIMEOUT_S", "5"),
        read_timeout_s=_number(env, "PLATFORM_API_READ_TIMEOUT_S", "30"),
        max_attempts=_number(env, "PLATFORM_API_MAX_ATTEMPTS", "6", int),
        backoff_base_s=_number(env, "PLATFORM_API_BACKOFF_BASE_S", "0.5"),
        retry_budget=_number(env, "PLATFORM_API_RETRY_BUDGET", "50", int),
        rate_limit_per_s=_number(env, "PLATFORM_API_RATE_LIMIT", "20"),
        rate_limit_burst=_number(env, "PLATFORM_API_RATE_LIMIT_BURST", "5", int),
        rate_limit_store=store,
        max_workers=_number(env, "PLATFORM_API_WORKERS", "2", int),
    )


def build_resources(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    return {
        "warehouse": Warehouse(
            url=_secret_or_default(env, "PLATFORM_WAREHOUSE_URL", embedded_warehouse_url(env))
        ),
        "storefront_api": rest_api(env),
        "storefront_db": SqlDatabase(
            url=_secret_or_default(env, "PLATFORM_SOURCE_DB_URL", source_db_url(env))
        ),
        "landing": LandingDirectory(path=landing_dir(env)),
    }
