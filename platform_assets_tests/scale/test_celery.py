"""The Celery profile end to end: a backfill spread over two real workers, and a lost worker.

Two ``deploy/worker.sh`` processes consume the ``extract`` and ``warehouse`` queues of a Redis
broker; runs of daily_job for two partitions go to them through the shared dagster-postgres
instance (the repository's dagster.yaml), and write the PostgreSQL warehouse. The result must
equal an in-process run of the same partitions, row for row, in every table.

The Celery profile's own instance (deploy/dagster.yaml) goes further: ``dagster job
backfill`` hands each run to the ``runs`` queue, where a pool process of a runs worker
coordinates it; the warehouse must again equal the in-process one.

Losing a worker mid-step (SIGKILL of its whole process group) is designed to be survived:
the step's task is acknowledged only when it finished, so Redis hands it to the other worker
once the visibility timeout has passed, the step runs again there (its partition replace is
atomic), and the run succeeds with the same rows as before.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from platform_assets.automation.executors import RUNS_QUEUE
from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS
from platform_assets.demo.config import demo_landing_dir as landing_dir
from platform_assets.demo.config import demo_source_db_url as source_db_url
from platform_assets.demo.drops import write_drops
from platform_assets.demo.faults import Faults
from platform_assets.demo.sql_source import seed_database
from platform_assets_tests.conftest import TEST_CFG, TEST_DAY
from platform_assets_tests.scale.instance import open_instance, pg_dagster_home, pg_instance_env
from platform_assets_tests.scale.tables import warehouse_tables
from platform_assets_tests.scale.workers import JobRun, Worker, backfill_args

DAYS = [TEST_DAY - timedelta(days=n) for n in (1, 0)]
STEPS = {
    "orders", "payments", "customers", "marketing_spend",
    "stg_orders", "stg_payments", "stg_customers", "stg_marketing_spend",
    "daily_revenue_by_country", "marketing_roas", "customer_lifetime_value",
    "shipment_events", "quality_report",
}  # fmt: skip
POOL_LIMIT = 8  # dagster.yaml's default for pools
RATE_PER_S = 8  # client-side limit per API, shared by every worker through PostgreSQL
VISIBILITY_TIMEOUT_S = 30  # > the longest step (the report, 2 runs); lost steps return after it


def preload_customers() -> None:
    """Load the customers table before the backfill starts, as every daily run after a
    deployment's first finds it (the first loads the whole customer history)."""
    from platform_assets.definitions import build_definitions

    customers = build_definitions().resolve_assets_def("customers")
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([customers], instance=instance).success


def run_of(instance: dg.DagsterInstance, name: str) -> dg.DagsterRun | None:
    """The run started with the tag ``scale_test=name``, once it exists."""
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"scale_test": name}))
    assert len(runs) <= 1, runs
    return runs[0] if runs else None


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
        with open_instance(dagster_home) as instance:
            # As deploy/README.md says: set the pool's limit once before runs start at once
            # (`dagster instance concurrency set warehouse 8`); concurrent first claims of an
            # unset pool collide on PostgreSQL (UniqueViolation, then an aborted transaction).
            instance.event_log_storage.set_concurrency_slots("warehouse", POOL_LIMIT)
        yield platform, dagster_home, reference_url, celery_url, limits_url
    finally:
        mp.undo()


@pytest.mark.timeout(900)
def test_backfill_runs_every_step_on_the_workers_and_matches_in_process(
    scale_platform, start_workers, start_run
) -> None:
    platform, dagster_home, reference_url, celery_url, limits_url = scale_platform
    workers = start_workers(2)
    worker_pids = {w.node: w.pids() for w in workers}
    assert all(len(pids) == 3 for pids in worker_pids.values()), worker_pids  # main + pool 2

    # The backfill: a run per partition, all at once, each in its own run worker process.
    runs = [start_run(day.isoformat(), {"scale_test": f"backfill-{day}"}) for day in DAYS]
    codes = [run.wait() for run in runs]
    assert codes == [0] * len(DAYS), _logs(workers, runs)

    used_nodes: Counter[str] = Counter()
    with open_instance(dagster_home) as instance:
        for day in DAYS:
            run = run_of(instance, f"backfill-{day}")
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            assert run.tags["dagster/partition"] == day.isoformat()
            events = step_events(instance, run.run_id)
            succeeded = {e.step_key: e.pid for e in events if e.event_type_value == "STEP_SUCCESS"}
            assert set(succeeded) == STEPS
            handed = celery_nodes(events)
            assert sorted(step for step, _ in handed) == sorted(STEPS)  # each exactly once
            for step, node in handed:  # ran in that worker's pool, not in the run's process
                assert succeeded[step] in worker_pids[node], (step, node)
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
    platform.api.set_faults(Faults(latency_ms=500))
    rerun = start_run(TEST_DAY.isoformat(), {"scale_test": "kill"})
    victim = _worker_running(dagster_home, "orders", workers, rerun)
    victim.kill()
    assert rerun.wait() == 0, _logs(workers, [rerun])
    survivor = next(w for w in workers if w is not victim)

    with open_instance(dagster_home) as instance:
        run = run_of(instance, "kill")
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        events = step_events(instance, run.run_id)
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


@pytest.mark.timeout(900)
def test_backfill_with_runs_on_a_runs_worker_matches_in_process(
    scale_platform, start_workers, monkeypatch
) -> None:
    """deploy/dagster.yaml: ``dagster job backfill`` hands each run to the runs queue; a
    pool process of the runs worker coordinates it, and its steps run on the step worker."""
    platform, _, reference_url, celery_url, _ = scale_platform
    runs_home = pg_dagster_home(platform.home / "celery_runs", celery_runs=True)
    monkeypatch.setenv("DAGSTER_HOME", str(runs_home))  # same database, the profile's yaml
    [runs_worker] = start_workers(1, concurrency=len(DAYS), queues=RUNS_QUEUE)
    [step_worker] = start_workers(1, concurrency=2)
    coordinators, step_pids = runs_worker.pids(), step_worker.pids()

    backfill = backfill_args([d.isoformat() for d in DAYS], {"scale_test": "runs-on-workers"})
    done = subprocess.run(backfill, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr

    with open_instance(runs_home) as instance:
        runs = _finished_runs(instance, {"scale_test": "runs-on-workers"}, len(DAYS))
        assert sorted(r.tags["dagster/partition"] for r in runs) == [d.isoformat() for d in DAYS]
        for run in runs:
            assert run.status == dg.DagsterRunStatus.SUCCESS, _logs([runs_worker, step_worker], [])
            events = step_events(instance, run.run_id)
            [start] = [e for e in events if e.event_type_value == "PIPELINE_START"]
            assert start.pid in coordinators  # coordinated in the runs worker's pool
            handed = celery_nodes(events)
            assert sorted(step for step, _ in handed) == sorted(STEPS)
            assert {node for _, node in handed} == {step_worker.node}
            succeeded = [e.pid for e in events if e.event_type_value == "STEP_SUCCESS"]
            assert len(succeeded) == len(STEPS) and set(succeeded) <= step_pids
    assert warehouse_tables(celery_url) == warehouse_tables(reference_url)


def _finished_runs(
    instance: dg.DagsterInstance, tags: dict[str, str], count: int, timeout: float = 480
) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(tags=tags))
        if len(runs) == count and all(run.is_finished for run in runs):
            return runs
        time.sleep(0.5)
    raise AssertionError(f"{count} runs tagged {tags} not finished in {timeout} s: {runs}")


def _worker_running(
    dagster_home: Path, step: str, workers: list[Worker], rerun: JobRun, timeout: float = 90
) -> Worker:
    """The worker running ``step`` of the tagged run, once the step has started there."""
    by_node = {w.node: w for w in workers}
    deadline = time.monotonic() + timeout
    with open_instance(dagster_home) as instance:
        while time.monotonic() < deadline:
            if rerun.done():
                raise AssertionError(f"the run ended before {step} started:\n{rerun.log_text()}")
            run = run_of(instance, "kill")
            events = step_events(instance, run.run_id) if run else []
            nodes = [node for handed, node in celery_nodes(events) if handed == step]
            started = [e for e in events if e.event_type_value == "STEP_START"]
            if nodes and any(e.step_key == step for e in started):
                return by_node[nodes[0]]
            time.sleep(0.1)
    raise AssertionError(f"no worker started {step} within {timeout} s")


def _logs(workers: list[Worker], runs: list[JobRun]) -> str:
    parts = [f"--- worker {w.name}\n{w.log_text()[-2000:]}" for w in workers]
    parts += [f"--- run {r.partition}\n{r.log_text()[-3000:]}" for r in runs]
    return "\n".join(parts)
