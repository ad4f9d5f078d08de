"""Where a job's steps run, chosen per environment in one function (PLATFORM_EXECUTOR).

* ``multiprocess`` (default, Dagster's own default): launched runs start one process per
  step on the machine that runs the run, forked from a forkserver that preloaded the code
  location (``step_preload.py``); ``execute_in_process`` stays in-process.
* ``in_process``: every step in the run's process (cheapest per step, no parallelism).
* ``celery``: every step is a Celery task picked up by dagster-celery workers on any
  machine (deploy/, ``make worker``). Steps share nothing but the PostgreSQL warehouse and
  the dagster-postgres instance, so a step may run on any worker.

Steps are routed to a Celery queue per kind of work by the ``dagster-celery/queue`` op tag
(``celery_queue``): source extraction is bound by APIs and source databases, in-warehouse
SQL by the warehouse, so each can get its own workers and concurrency.

The broker and result backend stay ``{"env": ...}`` references: the URLs (and any password
in them) are read where the executor starts, never stored in run config or the UI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

EXECUTOR_ENV = "PLATFORM_EXECUTOR"
EXECUTORS = ("multiprocess", "in_process", "celery")
BROKER_ENV = "PLATFORM_CELERY_BROKER_URL"
BACKEND_ENV = "PLATFORM_CELERY_BACKEND_URL"
VISIBILITY_TIMEOUT_ENV = "PLATFORM_CELERY_VISIBILITY_TIMEOUT_S"
# Redis only: a namespace for every broker key, so deployments (or test runs) sharing one
# Redis never consume each other's steps.
KEY_PREFIX_ENV = "PLATFORM_CELERY_KEY_PREFIX"
DEFAULT_VISIBILITY_TIMEOUT_S = 3600  # must exceed the longest step: see celery_settings

QUEUE_TAG = "dagster-celery/queue"  # dagster_celery.tags.DAGSTER_CELERY_QUEUE_TAG
EXTRACT_QUEUE = "extract"  # raw assets: bound by source APIs / databases
WAREHOUSE_QUEUE = "warehouse"  # SQL assets: bound by the warehouse
QUEUES = (EXTRACT_QUEUE, WAREHOUSE_QUEUE)
# Run coordinators (deploy/dagster.yaml's run launcher, celery_runs.py): a queue of its own.
RUNS_QUEUE = "runs"
STEP_PRELOAD = "platform_assets.automation.step_preload"
WORKER_QUEUES_ENV = "PLATFORM_CELERY_QUEUES"  # the queues a worker consumes (deploy/worker.sh)


# .configured: its config is fixed, so the launchpad no longer takes executor config.
MULTIPROCESS = dg.multi_or_in_process_executor.configured(
    {"multiprocess": {"start_method": {"forkserver": {"preload_modules": [STEP_PRELOAD]}}}}
)


def celery_queue(queue: str) -> dict[str, str]:
    """Op tags that route a step to a Celery queue; the other executors ignore them."""
    if queue not in QUEUES:
        raise ValueError(f"unknown Celery queue {queue!r}; known: {QUEUES}")
    return {QUEUE_TAG: queue}


def _visibility_timeout(env: Mapping[str, str]) -> int:
    raw = env.get(VISIBILITY_TIMEOUT_ENV, str(DEFAULT_VISIBILITY_TIMEOUT_S))
    try:
        seconds = int(raw)
    except ValueError as exc:
        raise ValueError(f"{VISIBILITY_TIMEOUT_ENV} must be whole seconds, got {raw!r}") from exc
    if seconds < 1:
        raise ValueError(f"{VISIBILITY_TIMEOUT_ENV} must be >= 1, got {seconds}")
    return seconds


def celery_settings(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Celery settings shared by the submitting side and the workers (one place).

    A step's task is acknowledged only after it finished (``task_acks_late``), and put back
    when the pool process running it dies (``task_reject_on_worker_lost``): a killed worker's
    step runs again on another worker, and the run goes on. Re-running a step is safe
    because every asset replaces its partition (or merges on its key) in one transaction.

    On Redis a message taken by a worker that vanished entirely (SIGKILL, lost machine) is
    handed out again ``visibility_timeout`` seconds after it was taken, so that timeout must
    exceed the longest step (a longer step would be started a second time while it runs).
    RabbitMQ requeues on the lost connection instead and ignores the timeout.
    """
    timeout = _visibility_timeout(env)
    prefix = env.get(KEY_PREFIX_ENV, "")
    return {
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # a worker holds only the steps it runs
        "task_default_queue": "dagster",
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            # dagster-celery's defaults for publishing, plus the redelivery window.
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
            "visibility_timeout": timeout,
            # Sweep for abandoned messages often enough to honour the timeout.
            "unacked_restore_interval": max(1, min(60, timeout // 10)),
            "unacked_restore_throttle": 1,
            **({"global_keyprefix": prefix} if prefix else {}),
        },
    }


def worker_settings(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The worker's Celery configuration (deploy/dagster_celery_config.py): broker and
    backend URLs read from the worker's own environment, never written to a file."""
    missing = [name for name in (BROKER_ENV, BACKEND_ENV) if not env.get(name)]
    if missing:
        raise RuntimeError(f"a Celery worker needs {', '.join(missing)} in its environment")
    runs_worker(env)  # a misconfigured runs worker fails at start, not on its first run
    return {
        "broker_url": env[BROKER_ENV],
        "result_backend": env[BACKEND_ENV],
        **celery_settings(env),
    }


def runs_worker(env: Mapping[str, str] = os.environ) -> bool:
    """Whether this worker consumes the ``runs`` queue (deploy/worker.sh's QUEUES).

    Run coordinators wait for their steps: a worker of the runs queue consumes nothing
    else, or a step could queue behind the runs that wait for it and never start.
    """
    queues = [q.strip() for q in env.get(WORKER_QUEUES_ENV, "").split(",") if q.strip()]
    if RUNS_QUEUE not in queues:
        return False
    if queues != [RUNS_QUEUE]:
        raise RuntimeError(
            f"a worker of the {RUNS_QUEUE!r} queue consumes nothing else, got {queues}: "
            f"start one with QUEUES={RUNS_QUEUE} and others for {', '.join(QUEUES)}"
        )
    return True


def _celery_executor(env: Mapping[str, str]) -> dg.ExecutorDefinition:
    missing = [name for name in (BROKER_ENV, BACKEND_ENV) if not env.get(name)]
    if missing:
        raise RuntimeError(
            f"{EXECUTOR_ENV}=celery needs {', '.join(missing)} "
            "(e.g. redis://127.0.0.1:6379/0; see deploy/README.md)"
        )
    warehouse = env.get("PLATFORM_WAREHOUSE_URL", "")
    if not warehouse.startswith(("postgresql", "postgres:")):
        # Workers on other machines cannot reach a DuckDB file, and it takes one writer.
        raise RuntimeError(
            f"{EXECUTOR_ENV}=celery needs a PostgreSQL warehouse in PLATFORM_WAREHOUSE_URL"
        )
    try:
        from dagster_celery import celery_executor
    except ImportError as exc:
        raise RuntimeError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'platform_assets[celery]'"
        ) from exc
    # .configured, not run config: run config in define_asset_job(config=...) was ignored.
    return celery_executor.configured(
        {
            "broker": {"env": BROKER_ENV},
            "backend": {"env": BACKEND_ENV},
            "config_source": celery_settings(env),
        },
        name="celery",
    )


def build_executor(env: Mapping[str, str] = os.environ) -> dg.ExecutorDefinition:
    """The executor for every job of the code location, from PLATFORM_EXECUTOR."""
    kind = env.get(EXECUTOR_ENV, "multiprocess")
    if kind == "multiprocess":
        return MULTIPROCESS
    if kind == "in_process":
        return dg.in_process_executor
    if kind == "celery":
        return _celery_executor(env)
    raise ValueError(f"{EXECUTOR_ENV} must be one of {EXECUTORS}, got {kind!r}")
