"""The code location: the tables configured in ``defs/``, plus what every table shares.

The company's sources and tables are configuration (``defs/<folder>/defs.yaml`` and the
contracts beside it). This module adds the platform's own parts, which name no table: the
warehouse, alerting and lineage resources, the daily job and its schedule, the automation,
alert and lineage sensors, loggers and the executor.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import dagster as dg

from platform_assets.alerts.resource import alerting_from_env
from platform_assets.alerts.sensors import alert_sensors
from platform_assets.automation.executors import build_executor
from platform_assets.automation.schedules import automation_sensor, daily_job, daily_schedule
from platform_assets.components.common import ConfigError
from platform_assets.components.metadata import repository_links
from platform_assets.contracts import contracts, use_defs_dir
from platform_assets.home import embedded_warehouse_url
from platform_assets.observability.logging import pipeline_loggers
from platform_assets.observability.openlineage import openlineage_from_env, openlineage_sensor
from platform_assets.redaction import declare_secret_variables
from platform_assets.report.asset import report_after_failure, report_asset, report_job
from platform_assets.report.graph import table_graph
from platform_assets.sources.sql import SqlDatabase
from platform_assets.warehouse.resource import Warehouse

SHARED_RESOURCES = ("warehouse", "alerting", "openlineage", "io_manager")

# Dagster marks APIs this code location uses on purpose (components, code references, sensor
# owners) as beta or preview and warns once per use: ~50 lines on every `dagster dev`, which
# buried the lines a user needs. Only those two categories are silenced, only here.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)


def warehouse() -> Warehouse:
    """PLATFORM_WAREHOUSE_URL (read at run time: it may hold a password), else DuckDB."""
    if os.environ.get("PLATFORM_WAREHOUSE_URL"):
        return Warehouse(url=dg.EnvVar("PLATFORM_WAREHOUSE_URL"))
    return Warehouse(url=embedded_warehouse_url())


def platform_definitions(tables: dg.Definitions) -> dg.Definitions:
    """``tables``: what defs/ built; the report reads their graph and checks."""
    built = [*(tables.assets or []), *(tables.asset_checks or [])]
    graph = table_graph([d for d in built if isinstance(d, dg.AssetsDefinition)], contracts())
    return dg.Definitions(
        assets=[report_asset(list(contracts().values()), graph)],  # in daily_job: every day
        jobs=[daily_job, report_job],
        schedules=[daily_schedule],
        sensors=[
            *alert_sensors(),
            openlineage_sensor,
            automation_sensor,
            report_after_failure(daily_job),
        ],
        resources={
            "warehouse": warehouse(),
            "alerting": alerting_from_env(),
            "openlineage": openlineage_from_env(),
        },
        loggers=pipeline_loggers(),  # run config "loggers: {json: {}}": Dagster lines as JSON
        executor=build_executor(),  # PLATFORM_EXECUTOR: multiprocess | in_process | celery
    )


def check_connections(defs: dg.Definitions) -> None:
    """Every asset's connection is one that some folder of defs/ defines."""
    known = {*(defs.resources or {}), "io_manager"}  # Dagster supplies its default
    for asset in defs.assets or []:
        assert isinstance(asset, dg.AssetsDefinition)
        for key in sorted(asset.required_resource_keys - known):
            raise ConfigError(
                f"{asset.key.to_user_string()} reads connection {key!r}, which no folder of "
                f"defs/ defines; connections: {sorted(known - set(SHARED_RESOURCES))}"
            )


def env_var_names(resources: Mapping[str, Any]) -> set[str]:
    """Every variable a resource reads as ``dg.EnvVar``: by the house rule only secrets are
    passed that way, so these are the configured sources' secrets (``url_env``, ``token_env``,
    ``password_env``...) without this module knowing any source."""
    return {
        value.env_var_name
        for resource in resources.values()
        if isinstance(resource, dg.ConfigurableResource)
        for value in vars(resource).values()
        if isinstance(value, dg.EnvVar)
    }


def preflight(defs: dg.Definitions) -> None:
    """Connect to every database the run reads or writes, before the run starts.

    A URL that can never work (unknown scheme, host, database or role; failed
    authentication) raises PermanentDatabaseError naming its variable now, not after a
    step's retries. Variables are read here, as a run would read them.
    """
    for resource in (defs.resources or {}).values():
        if isinstance(resource, Warehouse | SqlDatabase):
            resource.process_config_and_initialize().preflight()


def own_tree() -> dg.ComponentTree:
    """This package's defs folder, found from the module rather than from pyproject.toml so
    that an installed wheel (a worker image) loads the same tables as a checkout."""
    import platform_assets.defs

    return dg.ComponentTree.from_module(platform_assets.defs, Path(__file__).resolve().parents[1])


def build_definitions(tree: dg.ComponentTree | None = None) -> dg.Definitions:
    """``tree``: the project whose defs folder holds the tables (default: this package)."""
    tree = tree or own_tree()
    use_defs_dir(Path(tree.defs_module_path))
    # Every component reads this one catalog: loaded here, a broken contract stops us naming
    # its file, not wrapped in an error about whichever component happened to load it first.
    contracts()
    tables = tree.build_defs()
    defs = dg.Definitions.merge(tables, platform_definitions(tables))
    if os.environ.get("PLATFORM_REPO_URL"):  # file links point into the repository
        defs = defs.map_asset_specs(func=repository_links())
    check_connections(defs)
    declare_secret_variables(env_var_names(defs.resources or {}))
    return defs


@lru_cache(maxsize=1)
def _built_for(environment: frozenset[tuple[str, str]]) -> dg.Definitions:
    return build_definitions()


@dg.definitions
def defs() -> dg.Definitions:
    """Dagster calls this each time it loads the code location, seven times in one
    ``dagster asset materialize`` (0.5 s each): built once per process, again only when the
    environment, which decides resources and executor, has changed."""
    return _built_for(frozenset(os.environ.items()))
