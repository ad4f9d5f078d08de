"""Imported by every Celery worker before its pool forks (deploy/worker.sh: ``-I``).

A pool process forked from a warm parent starts its first step at once; otherwise each pool
process imports the code location, the instance's storage classes (dagster-postgres) and
pandera's backend on its first step, seconds of CPU per process while the machine is busy.

The pool processes of a runs worker (QUEUES=runs) also get Celery's permission to wait for
other tasks' results: a run task waits for its steps (celery_runs.py).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from celery.result import allow_join_result
from celery.signals import worker_process_init

import platform_assets.definitions  # noqa: F401  the code location the steps come from
from platform_assets.automation.executors import runs_worker
from platform_assets.automation.instance import open_instance
from platform_assets.quality.validation import warm_up

# Entered once per pool process of a runs worker and never left: for the life of the
# process, its run tasks may wait on their steps (celery_runs.py says why that is safe).
_RUNS_MAY_WAIT = ExitStack()


def _warm() -> None:
    # Loads the storage classes dagster.yaml names; NullPool engines keep no connection
    # open, so nothing is shared with the forked pool processes.
    with open_instance():
        pass
    warm_up()


def _let_runs_wait_for_steps(**_kwargs: Any) -> None:
    # Celery forbids waiting in every new pool process; this runs after that.
    _RUNS_MAY_WAIT.enter_context(allow_join_result())


_warm()
if runs_worker():
    worker_process_init.connect(_let_runs_wait_for_steps, weak=False)
