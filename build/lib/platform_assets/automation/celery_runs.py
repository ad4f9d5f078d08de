"""Runs on Celery workers too: the run coordinator of each partition is a Celery task.

With the default run launcher every run is a new process on the launching machine: it
imports the code location (~2 CPU s, ~300 MB) before coordinating steps that run elsewhere.
With this launcher (``deploy/dagster.yaml``) a run is a task on the ``runs`` queue, taken by
a pool process of a worker that imported the code location once, before forking
(``celery_worker.py``). The run's steps still go to the ``extract`` and ``warehouse`` queues.

A run task waits for its steps' results inside a task, which Celery forbids by default
(``Never call result.get() within a task``: a pool that ran both could fill up with runs
waiting for steps queued behind them). A worker of the ``runs`` queue therefore consumes
nothing else (``executors.runs_worker`` refuses a mix), and its pool processes allow the
wait (``celery_worker.py``).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster_celery.launcher import CeleryRunLauncher as _DagsterCeleryRunLauncher

from platform_assets.automation.executors import RUNS_QUEUE, worker_settings


class CeleryRunLauncher(_DagsterCeleryRunLauncher):
    """dagster-celery's run launcher with the platform's Celery settings.

    Broker, backend, acknowledgement and redelivery settings come from the environment
    through ``executors.worker_settings``, the same function workers and the step executor
    use: nothing secret is written to dagster.yaml, and all sides agree.
    """

    def __init__(self, default_queue: str = RUNS_QUEUE, inst_data: Any = None) -> None:
        settings = worker_settings()
        super().__init__(
            default_queue=default_queue,
            broker=settings.pop("broker_url"),
            backend=settings.pop("result_backend"),
            config_source=settings,
            inst_data=inst_data,
        )

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "default_queue": dg.Field(
                str,
                is_required=False,
                default_value=RUNS_QUEUE,
                description="Queue of run tasks (a run's dagster-celery/queue tag overrides it).",
            )
        }
