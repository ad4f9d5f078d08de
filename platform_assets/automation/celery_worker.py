"""Imported by every Celery worker before its pool forks (deploy/worker.sh: ``-I``).

A pool process forked from a warm parent starts its first step at once; otherwise each pool
process imports the code location, the instance's storage classes (dagster-postgres) and
pandera's backend on its first step, seconds of CPU per process while the machine is busy.
"""

from __future__ import annotations

import dagster as dg

import platform_assets.definitions  # noqa: F401  the code location the steps come from
from platform_assets.quality.validation import warm_up


def _warm() -> None:
    # Loads the storage classes dagster.yaml names; NullPool engines keep no connection
    # open, so nothing is shared with the forked pool processes.
    with dg.DagsterInstance.get():
        pass
    warm_up()


_warm()
