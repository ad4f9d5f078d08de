"""The Celery profile end to end: a backfill spread over two real workers, and a lost worker.

Two ``deploy/worker.sh`` processes consume the ``extract`` and ``warehouse`` queues of a Redis
broker; runs of daily_job for four partitions go to them through the shared dagster-postgres
instance (the repository's dagster.yaml), and write the PostgreSQL warehouse. The result must
equal an in-process run of the same partitions, row for row, in every table.

Losing a worker mid-step (SIGKILL of its whole process group) is designed to be survived:
the step's task is acknowledged only when it finished, so Redis hands it to the other worker
once the visibility timeout has passed, the step runs again there (its partition replace is
atomic), and the run succeeds with the same rows as before.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS
from platform_assets.demo.drops import write_drops
from platform_assets.demo.faults import Faults
from platform_assets.demo.sql_source import seed_database
from platform_assets.resources import landing_dir, source_db_url
from platform_assets_tests.conftest import TEST_CFG, TEST_DAY
from platform_assets_tests.scale.conftest import open_instance, pg_dagster_home, pg_instance_env
from platform_assets_tests.scale.workers import Worker

DAYS = [TEST_DAY - timedelta(days=n) for n in (3, 2, 1, 0)]
STEPS = {
    "orders", "payments", "customers", "marketing_spend",
    "stg_orders", "stg_payments", "stg_customers", "stg_marketing_spend",
    "daily_revenue_by_country", "marketing_roas", "customer_lifetime_value",
}  # fmt: skip
RATE_PER_S = 8  # client-side limit per API, shared by every worker through PostgreSQL
VISIBILITY_TIMEOUT_S = 20  # > the longest step here; a lost worker's step returns after it
RUN_TIMEOUT_S = 150
# Columns that name the run or the moment that wrote a row, not the data.
VOLATILE = {"run_id", "loaded_at", "committed_at", "created_at"}


def daily_job() -> dg.JobDefinition:
    """The code location's daily_job, rebuilt from the environment in every process."""
    from platform_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_job")


def preload_customers() -> None:
    """Load the customers table before the backfill starts.

    orders' blocking foreign-key check reads customers, but orders does not depend on
    customers, so steps running in parallel (multiprocess, celery) may check orders before
    the same run has loaded its customers. Until that dependency is declared, the backfill
    starts from a warehouse that already holds them (as a daily run after the first does).
    """
    from platform_assets.definitions import build_definitions

    customers = build_definitions().resolve_assets_def("customers")
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([customers], instance=instance).success


def run_partition(dagster_home: Path, day: date, tags: dict[str, str] | None = None) -> str:
    """One run of daily_job: orchestrated here, its steps executed by the workers."""
    with open_instance(dagster_home) as instance:
        result = dg.execute_job(
            dg.reconstructable(daily_job),
            instance=instance,
            tags={"dagster/partition": day.isoformat(), **(tags or {})},
        )
        return result.run_id


def step_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    return [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]


def celery_nodes(events: list[dg.DagsterEvent]) -> list[tuple[str, str]]:
    """(step, worker node) for each time dagster-celery handed a step to a worker."""
    found = []
    for event in events:
        data = event.event_specific_data
        metadata = getattr(data, "metadata", None) or {}
        if event.event_type_value == "ENGINE_EVENT" and "Celery worker" in metadata:
            found.append((event.step_key, metadata["Celery worker"].value))
    return found


def warehouse_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the warehouse with its rows, sorted, without the volatile columns."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in names:
            columns = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                )
                if name not in VOLATILE
            ]
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
            )
            tables[f"{schema}.{table}"] = sorted(conn.execute(query).fetchall(), key=repr)
    return tables


@pytest.fixture
def scale_platform(make_platform, make_pg_database, celery_env):
    """Demo sources for DAYS, a reference warehouse filled in-process, and the environment of
    the Celery profile (shared instance, warehouse, rate-limit store) for the workers."""
    reference_url, celery_url, dagster_url, limits_url = (make_pg_database() for _ in range(4))
    platform = make_platform(
        extra_env={
            "PLATFORM_WAREHOUSE_URL": reference_url,
            "PLATFORM_API_PAGE_SIZE": "60",  # several pages per day: rate limit and latency bite
            "PLATFORM_API_RATE_LIMIT": str(RATE_PER_S),
            "PLATFORM_API_RATE_LIMIT_BURST": "1",
            "PLATFORM_API_RATE_LIMIT_STORE": limits_url,
        }
    )
    first_customer_day = DAYS[0] - timedelta(days=CUSTOMER_LOOKBACK_DAYS)
    seed_database(source_db_url(platform.env), TEST_CFG, first_customer_day, DAYS[-1])
    write_drops(Path(landing_dir(platform.env)), TEST_CFG, DAYS[0], DAYS[-1])
    with dg.DagsterInstance.ephemeral() as instance:
        for day in DAYS:
            assert platform.materialize(instance, day).success, day
    # The server's own limit: a 429 (counted in its stats) if the workers together exceed
    # the client-side rate; its burst absorbs scheduling jitter, not a second bucket.
    platform.api.set_faults(Faults(rate_limit_per_s=RATE_PER_S, rate_limit_burst=RATE_PER_S))
    mp = pytest.MonkeyPatch()
    dagster_home = pg_dagster_home(platform.home)
    env = {
        **celery_env,
        **pg_instance_env(dagster_url),
        "DAGSTER_HOME": str(dagster_home),
        "PLATFORM_WAREHOUSE_URL": celery_url,
        "PLATFORM_CELERY_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
    }
    for name, value in env.items():
        mp.setenv(name, value)
    try:
        preload_customers()
        yield platform, dagster_home, reference_url, celery_url, limits_url
    finally:
        mp.undo()


def test_backfill_runs_every_step_on_the_workers_and_matches_in_process(
    scale_platform, start_workers
) -> None:
    platform, dagster_home, reference_url, celery_url, limits_url = scale_platform
    workers = start_workers(2)
    worker_pids = {w.node: w.pids() for w in workers}
    assert all(len(pids) == 3 for pids in worker_pids.values()), worker_pids  # main + pool 2

    with ThreadPoolExecutor(len(DAYS)) as pool:  # the backfill: every partition at once
        run_ids = list(pool.map(lambda day: run_partition(dagster_home, day), DAYS))

    with open_instance(dagster_home) as instance:
        runs = {run_id: step_events(instance, run_id) for run_id in run_ids}
        assert [instance.get_run_by_id(r).status for r in run_ids] == [
            dg.DagsterRunStatus.SUCCESS
        ] * len(DAYS), _logs(workers)
    used_nodes: Counter[str] = Counter()
    for events in runs.values():
        succeeded = {e.step_key: e.pid for e in events if e.event_type_value == "STEP_SUCCESS"}
        assert set(succeeded) == STEPS
        handed = celery_nodes(events)
        assert sorted(step for step, _ in handed) == sorted(STEPS)  # each exactly once
        for step, node in handed:
            assert succeeded[step] in worker_pids[node] - {os.getpid()}, (step, node)
            used_nodes[node] += 1
    assert set(used_nodes) == {w.node for w in workers}, used_nodes  # the work was spread

    assert warehouse_tables(celery_url) == warehouse_tables(reference_url)
    stats = platform.api.stats()
    assert stats["faults"].get("rate_limited", 0) == 0, stats
    assert "429" not in stats["by_status"], stats
    with psycopg.connect(limits_url) as conn:
        buckets = conn.execute("SELECT bucket FROM platform.rate_limits").fetchall()
    assert buckets == [(platform.api.url.removeprefix("http://"),)]

    # A lost worker: SIGKILL the one running the slow orders step of a re-run of one day.
    platform.api.set_faults(Faults(latency_ms=1000))
    with ThreadPoolExecutor(1) as pool:
        rerun = pool.submit(run_partition, dagster_home, TEST_DAY, {"scale_test": "kill"})
        victim = _worker_running(dagster_home, "orders", workers, rerun)
        victim.kill()
        run_id = rerun.result(timeout=RUN_TIMEOUT_S)
    survivor = next(w for w in workers if w is not victim)

    with open_instance(dagster_home) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS, _logs(workers)
        events = step_events(instance, run_id)
    orders = [node for step, node in celery_nodes(events) if step == "orders"]
    assert orders == [victim.node, survivor.node]  # started on the victim, redone elsewhere
    starts = [e for e in events if e.event_type_value == "STEP_START" and e.step_key == "orders"]
    assert len(starts) == 2
    [success] = [
        e for e in events if e.event_type_value == "STEP_SUCCESS" and e.step_key == "orders"
    ]
    assert success.pid in worker_pids[survivor.node]
    assert {e.step_key for e in events if e.event_type_value == "STEP_SUCCESS"} == STEPS
    assert warehouse_tables(celery_url) == warehouse_tables(reference_url)  # no duplicates


def _worker_running(
    dagster_home: Path, step: str, workers: list[Worker], rerun: Any, timeout: float = 60
) -> Worker:
    """The worker that dagster-celery handed ``step`` of the tagged run to, once it did."""
    by_node = {w.node: w for w in workers}
    deadline = time.monotonic() + timeout
    with open_instance(dagster_home) as instance:
        while time.monotonic() < deadline:
            if rerun.done():
                raise AssertionError(f"the run ended before {step} started: {rerun.result()}")
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"scale_test": "kill"}))
            for run in runs:
                for handed_step, node in celery_nodes(step_events(instance, run.run_id)):
                    if handed_step == step:
                        return by_node[node]
            time.sleep(0.1)
    raise AssertionError(f"no worker started {step} within {timeout} s")


def _logs(workers: list[Worker]) -> str:
    return "\n".join(f"--- {w.name}\n{w.log_text()[-2000:]}" for w in workers)
