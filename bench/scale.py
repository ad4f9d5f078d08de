"""Scale-out benchmark: ``make bench`` (``python -m bench.scale``).

A backfill of ``--partitions`` (16) daily partitions whose extraction is bound by the demo
API's latency (``--latency-ms`` per request, ``--page-size`` rows per page), four ways:

* ``inprocess``: one process materializes one partition after the other (in-process
  executor), as ``make run`` does.
* ``multiprocess``: a run per partition, each in its own run process (``dagster job
  execute``, as the default run launcher starts them), ``--parallel-runs`` (8,
  dagster.yaml's backfill limit) at a time; steps in subprocesses on this machine.
* ``celery_run_processes``: the same run processes; their steps on ``--workers`` (2)
  dagster-celery workers of ``--concurrency`` (4) over Redis (deploy/worker.sh).
* ``celery``: the Celery profile (deploy/dagster.yaml): one ``dagster job backfill`` hands
  every run to the runs queue, where a runs worker with ``--parallel-runs`` slots
  coordinates them; their steps on the same 2 workers of concurrency 4.

Everything else is the production profile: the shared dagster-postgres instance
(dagster.yaml), a PostgreSQL warehouse per mode, the API's client-side rate limit shared
through PostgreSQL. Each mode's warehouse must equal the in-process one in every table, or
the benchmark fails. Times are wall-clock seconds from the first process start to the last
exit (process start-up included: it is part of what a backfill costs); medians of ``--reps``.
The machine is shared (2 cores): treat differences under ~15% as noise.

Results: ``bench/results/scale.json`` (inprocess_s, multiprocess_s, celery_s, speedups,
and the share of the machine's cores each mode kept busy) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import redis
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.args import names_of, non_negative_float, positive
from platform_assets.automation.executors import RUNS_QUEUE
from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS, DemoConfig
from platform_assets.demo.config import demo_landing_dir as landing_dir
from platform_assets.demo.config import demo_source_db_url as source_db_url
from platform_assets.demo.drops import write_drops
from platform_assets.demo.faults import Faults
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import seed_database
from platform_assets_tests.scale.instance import pg_dagster_home, pg_instance_env
from platform_assets_tests.scale.tables import warehouse_tables
from platform_assets_tests.scale.workers import REPO, JobRun, Worker, backfill_args

RESULTS = Path(__file__).parent / "results" / "scale.json"
SERVER_URL = os.environ.get(
    "PLATFORM_BENCH_POSTGRES_URL",
    os.environ.get("PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
REDIS_URL = os.environ.get(
    "PLATFORM_BENCH_REDIS_URL",
    os.environ.get("PLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
)
LAST_DAY = date(2026, 3, 10)
CFG = DemoConfig(seed=11, orders_per_day=240, customers_per_day=12, defect_rate=0.0)
MODES = ("inprocess", "multiprocess", "celery_run_processes", "celery")
BENCH_TAG = "platform/bench"
UNFINISHED = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
RUN_STATUSES = (
    "SELECT runs.status FROM runs JOIN run_tags ON run_tags.run_id = runs.run_id"
    " WHERE run_tags.key = %s AND run_tags.value = %s"
)
POOL_LIMIT = "8"  # dagster.yaml's default for pools, set once (deploy/README.md)
CHILD_TIMEOUT_S = 1800


@contextmanager
def databases(count: int) -> Iterator[list[str]]:
    """Fresh databases on the server, dropped afterwards."""
    admin = make_url(SERVER_URL).render_as_string(hide_password=False)
    names = [f"platform_bench_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield [
            make_url(SERVER_URL).set(database=n).render_as_string(hide_password=False)
            for n in names
        ]
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            for name in names:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


def check(args: list[str], env: Mapping[str, str]) -> None:
    """Run a preparation command (not timed); fail loudly with its output."""
    done = subprocess.run(
        args, cwd=REPO, env=dict(env), capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])}... failed:\n{done.stdout}\n{done.stderr}")


def prepare(env: Mapping[str, str]) -> None:
    """The documented one-time steps of a fresh deployment, then the customers table, as
    every daily run after a deployment's first finds it (the first loads the whole history):
    each mode's runs then start from the same warehouse."""
    dagster = str(Path(sys.executable).parent / "dagster")
    check([dagster, "instance", "concurrency", "set", "warehouse", POOL_LIMIT], env)
    select = ["-m", "platform_assets.definitions", "-a", "defs", "--select", "customers"]
    check([dagster, "asset", "materialize", *select], {**env, "PLATFORM_EXECUTOR": "in_process"})


def run_inprocess(env: Mapping[str, str], days: list[str], log_dir: Path) -> float:
    args = [sys.executable, "-m", "bench.scale", "--inprocess-child", *days]
    started = time.perf_counter()
    with (log_dir / "inprocess.log").open("wb") as log:
        proc = subprocess.Popen(args, cwd=REPO, env=dict(env), stdout=log, stderr=log)
        code = proc.wait(timeout=CHILD_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"in-process backfill failed; see {log_dir / 'inprocess.log'}")
    return seconds


def run_backfill(env: Mapping[str, str], days: list[str], parallel: int, log_dir: Path) -> float:
    """A run process per partition, ``parallel`` at a time (the instance's backfill limit)."""
    pending = list(days)
    running: list[JobRun] = []
    finished: list[JobRun] = []
    started = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                day = pending.pop(0)
                running.append(JobRun(day, log_dir / f"run-{day}.log", env).start())
            time.sleep(0.2)
            for run in [r for r in running if r.done()]:
                running.remove(run)
                finished.append(run)
    finally:
        for run in running:
            run.stop()
    seconds = time.perf_counter() - started
    failed = [r.partition for r in finished if r.wait() != 0]
    if failed:
        raise RuntimeError(f"runs failed for {failed}; logs in {log_dir}")
    return seconds


def launch_backfill(
    env: Mapping[str, str], days: list[str], dagster_url: str, log_dir: Path
) -> float:
    """``dagster job backfill``: the instance's run launcher sends each partition's run to
    the runs queue at once (DefaultRunCoordinator here, so no daemon is needed; the runs
    worker's slots bound the runs in flight). Seconds until every run finished."""
    tag = uuid.uuid4().hex
    started = time.perf_counter()
    check(backfill_args(days, {BENCH_TAG: tag}), env)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    with psycopg.connect(dagster_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            statuses = [row[0] for row in conn.execute(RUN_STATUSES, (BENCH_TAG, tag))]
            if len(statuses) == len(days) and not set(statuses) & UNFINISHED:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError(f"backfill not finished in {CHILD_TIMEOUT_S} s: {statuses}")
    seconds = time.perf_counter() - started
    if set(statuses) != {"SUCCESS"}:
        raise RuntimeError(f"backfill runs ended {statuses}; logs in {log_dir}")
    return seconds


def run_celery(
    env: Mapping[str, str],
    days: list[str],
    args: argparse.Namespace,
    log_dir: Path,
    dagster_url: str,
    runs_on_workers: bool,
) -> float:
    run = uuid.uuid4().hex[:8]
    prefix = f"platform-bench-{run}:"
    env = {
        **env,
        "PLATFORM_EXECUTOR": "celery",
        "PLATFORM_CELERY_BROKER_URL": REDIS_URL,
        "PLATFORM_CELERY_BACKEND_URL": REDIS_URL,
        "PLATFORM_CELERY_KEY_PREFIX": prefix,
    }
    workers = [
        Worker(f"bench{i}-{run}", log_dir / f"worker{i}.log", env, args.concurrency)
        for i in range(args.workers)
    ]
    if runs_on_workers:  # the run coordinators' own worker, as many slots as runs in flight
        runs_log = log_dir / "runs-worker.log"
        workers.append(Worker(f"runs-{run}", runs_log, env, args.parallel_runs, RUNS_QUEUE))
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_ready()
        if runs_on_workers:
            return launch_backfill(env, days, dagster_url, log_dir)
        return run_backfill(env, days, args.parallel_runs, log_dir)
    finally:
        for worker in workers:
            worker.stop()
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)


NewDatabases = Callable[[int], list[str]]


def one_mode(
    mode: str,
    base_env: Mapping[str, str],
    days: list[str],
    args: argparse.Namespace,
    home: Path,
    new_databases: NewDatabases,
) -> tuple[float, float, str]:
    """(seconds, machine CPU seconds, warehouse URL kept for comparison) of one mode in
    fresh databases. Machine CPU: every process on the machine while the mode ran (its run
    and step processes, Celery workers, and PostgreSQL, which serves them all)."""
    log_dir = home / "logs" / f"{mode}-{uuid.uuid4().hex[:6]}"
    log_dir.mkdir(parents=True)
    warehouse_url, dagster_url = new_databases(2)
    # celery: runs on the runs queue (deploy/dagster.yaml); the others: run processes.
    dagster_home = pg_dagster_home(log_dir, celery_runs=mode == "celery")
    env = {
        **base_env,
        **pg_instance_env(dagster_url),
        "DAGSTER_HOME": str(dagster_home),
        "PLATFORM_WAREHOUSE_URL": warehouse_url,
    }
    prepare(env)
    busy_before = machine_busy_s()
    if mode == "inprocess":
        seconds = run_inprocess({**env, "PLATFORM_EXECUTOR": "in_process"}, days, log_dir)
    elif mode == "multiprocess":
        env = {**env, "PLATFORM_EXECUTOR": "multiprocess"}
        seconds = run_backfill(env, days, args.parallel_runs, log_dir)
    else:
        runs_on_workers = mode == "celery"
        seconds = run_celery(env, days, args, log_dir, dagster_url, runs_on_workers)
    return seconds, machine_busy_s() - busy_before, warehouse_url


def machine_busy_s() -> float:
    """CPU seconds all cores of this machine have been busy since boot (Linux /proc/stat).

    Whole-machine on purpose: PostgreSQL's backends do much of the work (Dagster's storage
    opens a connection per event) and belong to no process the benchmark started.
    """
    ticks = [int(t) for t in Path("/proc/stat").read_text().split()[1:9]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks) - idle - iowait) / os.sysconf("SC_CLK_TCK")


def sources(home: Path, days: list[str], latency_ms: float) -> tuple[dict[str, str], DemoApi]:
    env = {**os.environ, "PLATFORM_HOME": str(home)}
    first, last = date.fromisoformat(days[0]), date.fromisoformat(days[-1])
    seed_database(source_db_url(env), CFG, first - timedelta(days=CUSTOMER_LOOKBACK_DAYS), last)
    write_drops(Path(landing_dir(env)), CFG, first, last)
    token = f"bench-{uuid.uuid4().hex}"
    api = DemoApi(CFG, token, faults=Faults(latency_ms=latency_ms)).start()
    env.update({"PLATFORM_API_URL": api.url, "PLATFORM_API_TOKEN": token})
    return env, api


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    days = [(LAST_DAY - timedelta(days=n)).isoformat() for n in range(args.partitions)][::-1]
    faults = Faults(latency_ms=args.latency_ms)
    times: dict[str, list[float]] = {mode: [] for mode in args.modes}
    machine_cpu: dict[str, list[float]] = {mode: [] for mode in args.modes}
    api_stats: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="platform-bench-scale-") as tmp,
        ExitStack() as stack,  # databases live until the end: warehouses are compared
    ):
        home = Path(args.keep_logs or tmp)
        env, api = sources(home, days, args.latency_ms)
        stack.callback(api.stop)

        def new_databases(count: int) -> list[str]:
            return stack.enter_context(databases(count))

        [limits_url] = new_databases(1)
        env.update(
            {
                "PLATFORM_API_PAGE_SIZE": str(args.page_size),
                "PLATFORM_API_RATE_LIMIT": str(args.rate_limit),
                "PLATFORM_API_RATE_LIMIT_STORE": limits_url,
            }
        )
        reference: str | None = None
        for rep in range(args.reps):
            for mode in args.modes:
                api.set_faults(faults)  # resets the server's counters
                seconds, cpu_s, warehouse_url = one_mode(mode, env, days, args, home, new_databases)
                times[mode].append(round(seconds, 2))
                machine_cpu[mode].append(round(cpu_s, 1))
                api_stats[mode] = api.stats()
                print(f"rep {rep + 1} {mode}: {seconds:.1f} s, CPU {cpu_s:.0f} s", flush=True)
                reference = reference or warehouse_url
                if warehouse_tables(warehouse_url) != warehouse_tables(reference):
                    raise RuntimeError(f"{mode} left a different warehouse than {args.modes[0]}")
    return report(times, machine_cpu, api_stats, args)


def report(
    times: dict[str, list[float]],
    machine_cpu: dict[str, list[float]],
    api_stats: dict[str, Any],
    args: argparse.Namespace,
) -> dict[str, Any]:
    medians = {mode: statistics.median(values) for mode, values in times.items()}
    result: dict[str, Any] = {f"{mode}_s": round(medians[mode], 2) for mode in medians}
    if "inprocess" in medians:
        for mode in MODES[1:]:
            if mode in medians:
                result[f"{mode}_speedup"] = round(medians["inprocess"] / medians[mode], 2)
    result["runs_s"] = times
    # Busy: the share of the machine's cores the mode kept busy; near 1, it is CPU-bound
    # and more workers on this machine cannot make it faster.
    cpus = os.cpu_count() or 1
    result["machine_cpu_s"] = {mode: statistics.median(v) for mode, v in machine_cpu.items()}
    result["machine_busy"] = {
        mode: round(result["machine_cpu_s"][mode] / (medians[mode] * cpus), 2) for mode in medians
    }
    result["api"] = {
        mode: {
            "requests": stats["requests"],
            "429": stats["by_status"].get("429", 0),
            "max_in_flight": stats["max_in_flight"],
        }
        for mode, stats in api_stats.items()
    }
    result["settings"] = {
        "partitions": args.partitions,
        "latency_ms": args.latency_ms,
        "page_size": args.page_size,
        "rate_limit_per_s": args.rate_limit,
        "parallel_runs": args.parallel_runs,
        "celery_workers": args.workers,
        "celery_concurrency": args.concurrency,
        "reps": args.reps,
    }
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"\n{'mode':<22}{'median s':>10}{'speedup':>9}{'busy':>6}{'runs s':>24}")
    for mode in MODES:
        if f"{mode}_s" in result:
            speedup = result.get(f"{mode}_speedup", 1.0 if mode == "inprocess" else None)
            shown = f"{speedup:.2f}x" if speedup is not None else "-"
            runs = ", ".join(f"{t:.1f}" for t in result["runs_s"][mode])
            busy = f"{result['machine_busy'][mode]:.0%}"
            print(f"{mode:<22}{result[f'{mode}_s']:>10.1f}{shown:>9}{busy:>6}{runs:>24}")


def inprocess_child(days: list[str]) -> None:
    """The in-process contender: one process, every partition in turn, on DAGSTER_HOME."""
    import dagster as dg

    from platform_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("daily_job")
    with dg.DagsterInstance.get() as instance:
        for day in days:
            result = job.execute_in_process(
                partition_key=day, instance=instance, raise_on_error=False
            )
            if not result.success:
                raise SystemExit(f"partition {day} failed (run {result.run_id})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=positive, default=16)
    parser.add_argument("--latency-ms", type=non_negative_float, default=2000.0)
    parser.add_argument("--page-size", type=positive, default=40)
    parser.add_argument("--rate-limit", type=non_negative_float, default=20.0)
    parser.add_argument("--parallel-runs", type=positive, default=8)
    parser.add_argument("--workers", type=positive, default=2)
    parser.add_argument("--concurrency", type=positive, default=4)
    parser.add_argument("--reps", type=positive, default=1)
    parser.add_argument(
        "--modes", type=names_of(MODES), default=list(MODES), help="comma-separated"
    )
    parser.add_argument("--inprocess-child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--no-save", action="store_true", help="do not write scale.json")
    parser.add_argument("--keep-logs", metavar="DIR", help="sources and logs here, kept")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.inprocess_child:
        inprocess_child(args.inprocess_child)
        return
    result = benchmark(args)
    print_table(result)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
        print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
