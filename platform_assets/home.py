"""The platform's home: where the embedded default keeps its state (warehouse, instance).

Read when called, never at import: a process that sets PLATFORM_HOME before it builds the
definitions (a test, the launcher) gets its own home.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path

EMBEDDED_INSTANCE = """\
# Embedded instance for make run / make dev: SQLite storage under this directory.
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    # DuckDB admits one writing process: warehouse steps run one at a time.
    default_limit: 1
    granularity: op
  runs:
    # With one writer, more runs at once only contend for the CPU: a fresh `make dev` queued
    # about 15 runs (a week of events and drops) and started 9 at once, each then taking
    # 90-180 s for a one-step run on 2 cores. The rest wait in the queue, in order.
    max_concurrent_runs: 2
run_monitoring:
  # A run whose process died keeps its pool slots (with limit 1, every later run waits).
  # The daemon (make dev) frees the slots of a finished run this long after it ended;
  # `platform run` fails the runs of dead launchers and frees their slots itself.
  enabled: true
  free_slots_after_run_end_seconds: 10
"""


def platform_home(env: Mapping[str, str] = os.environ) -> Path:
    return Path(env.get("PLATFORM_HOME", ".platform")).resolve()


def embedded_warehouse_url(env: Mapping[str, str] = os.environ) -> str:
    return f"duckdb:///{platform_home(env) / 'warehouse.duckdb'}"


class DagsterHomeMissing(RuntimeError):
    """DAGSTER_HOME names a folder that does not exist."""


def prepare_environment(env: MutableMapping[str, str]) -> None:
    """Defaults for the embedded profile, set in ``env`` (os.environ for the CLIs).

    Only the platform's own default instance folder is created. A DAGSTER_HOME set by the
    caller that does not exist is refused: creating it would start a second, empty instance
    and split the run history (a typo, or a volume that is not mounted).
    """
    home = platform_home(env)
    env.setdefault("PLATFORM_HOME", str(home))
    default = home / "dagster_home"
    given = env.get("DAGSTER_HOME")
    dagster_home = Path(given).resolve() if given else default
    if dagster_home == default:
        dagster_home.mkdir(parents=True, exist_ok=True)
    elif not dagster_home.is_dir():
        raise DagsterHomeMissing(
            f"DAGSTER_HOME={given} does not exist (or is not a directory): create it, or "
            f"unset DAGSTER_HOME to use the platform's default instance under {default}"
        )
    env["DAGSTER_HOME"] = str(dagster_home)
    instance_yaml = dagster_home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text(EMBEDDED_INSTANCE)
