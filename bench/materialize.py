"""The real path: one orders partition materialized by Dagster's CLI, gates included.

``python -m bench.materialize [--rows 100000,1000000,5000000] [--repeats N]``

Each repeat runs, as a user would, ``dagster asset materialize --select orders --partition
<day> -m platform_assets.definitions`` in a child process against a fresh instance and a
fresh warehouse, on two profiles:

* ``postgres``: a dagster-postgres instance (deploy/postgres/dagster.yaml) and a PostgreSQL
  warehouse, each a fresh database on PLATFORM_BENCH_POSTGRES_URL's server;
* ``embedded``: the default, a SQLite instance and a DuckDB warehouse file.

Both use the in-process executor and no client rate limit; the demo API (a child process)
serves ``rows`` orders for the day and is warmed up first. The customers the orders
reference are materialized before (not timed), so the foreign-key gate reads a real parent.

Side by side, in the same repeat, on the same rows (exported from the loaded partition as
CSV): ``psql \\copy`` into a fresh table of the same shape (PostgreSQL), and DuckDB's own
``INSERT INTO ... SELECT * FROM read_csv(...)`` into a fresh table of the same shape.

Figures per row count (median of the repeats): the CLI command's wall time, the step's time
(STEP_START to STEP_SUCCESS in the instance's event log), the split inside the step (the
asset's ``phase_timings`` metadata: extract, validate, load, commit, count, gates; each
gate's ``duration_s``), the CLI process's peak RSS (VmHWM polled from /proc), and the code
location's import time (``python -c 'import platform_assets.definitions'``, median of 3).
Results: bench/results/materialize.json and a printed table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.args import counts, names_of, positive
from bench.data import DAY, TOKEN, config, orders_contract
from bench.postgres import libpq_env
from platform_assets.demo.config import CUSTOMER_LOOKBACK_DAYS
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import seed_database
from platform_assets.home import EMBEDDED_INSTANCE
from platform_assets.processes import child_preexec, stop_group
from platform_assets_tests.scale.instance import pg_instance_env

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results" / "materialize.json"
SERVER_URL = os.environ.get(
    "PLATFORM_BENCH_POSTGRES_URL",
    os.environ.get("PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
DEFAULT_ROWS = "100000,1000000,5000000"
PROFILES = ("postgres", "embedded")
CLI_TIMEOUT_S = 1800
RSS_POLL_S = 0.02
IMPORT_REPEATS = 3
TARGETS = {  # issue 14, ratios in one run on this machine
    "step_vs_copy_at_1M": 0.4,
    "cli_vs_copy_at_1M": 0.25,
    "duckdb_step_vs_native_at_1M": 0.5,
    "import_s_max": 2.0,
    "rss_5M_vs_100k_max": 1.25,
}


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- databases ------------------------------------------------------------------------------


def server_url(database: str) -> str:
    return make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)


@contextmanager
def fresh_databases(count: int) -> Iterator[list[str]]:
    """``count`` fresh databases on the benchmark's PostgreSQL server, dropped afterwards."""
    names = [f"platform_bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield [server_url(name) for name in names]
    finally:
        with psycopg.connect(SERVER_URL, autocommit=True) as conn:
            for name in names:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                conn.execute(drop.format(sql.Identifier(name)))


def psql(url: str, command: str) -> None:
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
        env=libpq_env(url),
        check=True,
        timeout=CLI_TIMEOUT_S,
    )


# --- the child processes --------------------------------------------------------------------


def peak_rss_poller(pid: int, peak: list[float], done: threading.Event) -> None:
    """VmHWM of ``pid`` until it exits. Not ``ru_maxrss``: that keeps the high-water mark
    across fork+exec, so a child of a big parent would report the parent's."""
    status = Path(f"/proc/{pid}/status")
    while not done.is_set():
        try:
            text = status.read_text()
        except (FileNotFoundError, ProcessLookupError):
            return
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        done.wait(RSS_POLL_S)


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run a ``dagster`` CLI command; returns its wall seconds and peak RSS (MB)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=child_preexec(),  # dies with us
    )
    peak, done = [0.0], threading.Event()
    poller = threading.Thread(target=peak_rss_poller, args=(proc.pid, peak, done), daemon=True)
    poller.start()
    try:
        output, _ = proc.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        raise RuntimeError(
            f"dagster {shlex.join(args)} did not finish in {CLI_TIMEOUT_S} s"
        ) from None
    finally:
        done.set()
        poller.join()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-30:])
        raise RuntimeError(f"dagster {shlex.join(args)} exited {proc.returncode}:\n{tail}")
    return seconds, peak[0]


def import_seconds() -> float:
    """Median wall time of importing the code location in a fresh interpreter."""
    seconds = []
    for _ in range(IMPORT_REPEATS):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import platform_assets.definitions"],
            cwd=REPO,
            check=True,
            timeout=300,
        )
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


# --- one repeat on one profile ---------------------------------------------------------------


@contextmanager
def profile_env(profile: str, home: Path, api_url: str) -> Iterator[dict[str, str]]:
    """The CLI's environment: a fresh instance and warehouse for ``profile``."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    env = {
        **os.environ,
        "PLATFORM_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PLATFORM_EXECUTOR": "in_process",
        "PLATFORM_API_URL": api_url,
        "PLATFORM_API_TOKEN": TOKEN,
        "PLATFORM_API_RATE_LIMIT": "0",  # no client rate limit: the API's own speed
        "PLATFORM_SOURCE_DB_URL": f"sqlite:///{home.parent / 'storefront.db'}",
    }
    env.pop("PLATFORM_WAREHOUSE_URL", None)
    if profile == "embedded":
        (dagster_home / "dagster.yaml").write_text(EMBEDDED_INSTANCE)
        yield env
        return
    with fresh_databases(2) as (warehouse_url, instance_url):
        config_text = (REPO / "deploy" / "postgres" / "dagster.yaml").read_text()
        (dagster_home / "dagster.yaml").write_text(config_text)
        env |= pg_instance_env(instance_url) | {"PLATFORM_WAREHOUSE_URL": warehouse_url}
        yield env


def materialize(env: dict[str, str]) -> dict[str, Any]:
    """Customers (not timed: the foreign-key gate's parent), then the orders partition."""
    module = ["-m", "platform_assets.definitions"]
    run_cli(["asset", "materialize", "--select", "customers", *module], env)
    partition = ["--partition", DAY.isoformat()]
    cli_s, rss_mb = run_cli(
        ["asset", "materialize", "--select", "orders", *partition, *module], env
    )
    return {"cli_s": cli_s, "rss_mb": rss_mb, **event_log_figures(env)}


def event_log_figures(env: dict[str, str]) -> dict[str, Any]:
    """The orders run's step time, phase timings and gates, from the instance's event log."""
    import dagster as dg

    saved = dict(os.environ)
    os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
    try:
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            [run] = instance.get_runs(limit=1)
            if not run.is_success:
                raise RuntimeError(f"the orders run {run.run_id} ended {run.status}")
            records = instance.all_logs(run.run_id)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return figures_from_events(records)


def figures_from_events(records: list[Any]) -> dict[str, Any]:
    import dagster as dg

    kind = dg.DagsterEventType
    first: dict[Any, float] = {}
    gates: dict[str, float] = {}
    phases: dict[str, float] = {}
    loaded = None
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        first.setdefault(event.event_type, record.timestamp)
        if event.event_type == kind.ASSET_MATERIALIZATION:
            metadata = event.step_materialization_data.materialization.metadata
            phases = dict(metadata["phase_timings"].value)
            loaded = metadata["rows_loaded"].value
        elif event.event_type == kind.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            gates[evaluation.check_name] = evaluation.metadata["duration_s"].value
    return {
        "step_s": first[kind.STEP_SUCCESS] - first[kind.STEP_START],
        "run_s": first[kind.RUN_SUCCESS] - first[kind.RUN_START],
        "rows_loaded": loaded,
        "phases": phases,
        "gates": gates,
    }


# --- the baselines ---------------------------------------------------------------------------


def pg_copy_seconds(url: str, csv: Path) -> float:
    """``psql \\copy`` of the exported rows into a fresh table shaped like raw.orders."""
    contract = orders_contract()
    columns = ", ".join(f'"{c}"' for c in contract.column_names)
    psql(url, 'CREATE SCHEMA "bench_copy"')  # the warehouse database is this repeat's own
    psql(url, 'CREATE TABLE "bench_copy"."orders" (LIKE "raw"."orders" INCLUDING ALL)')
    psql(url, "CHECKPOINT")  # no dirty pages of the run before
    started = time.perf_counter()
    psql(url, f'\\copy "bench_copy"."orders" ({columns}) FROM \'{csv}\' WITH (FORMAT csv, HEADER)')
    return time.perf_counter() - started


def pg_export(url: str, csv: Path) -> None:
    columns = ", ".join(f'"{c}"' for c in orders_contract().column_names)
    day = DAY.isoformat()  # a date: nothing to quote
    select = f'SELECT {columns} FROM "raw"."orders" WHERE order_date = \'{day}\''  # noqa: S608
    psql(url, f"\\copy ({select}) TO '{csv}' WITH (FORMAT csv, HEADER)")


def duckdb_export(path: Path, csv: Path) -> list[str]:
    """The loaded partition as CSV; returns the DDL of raw.orders and its indexes."""
    columns = ", ".join(f'"{c}"' for c in orders_contract().column_names)
    with duckdb.connect(str(path), read_only=True) as conn:
        conn.execute(
            f'COPY (SELECT {columns} FROM "raw"."orders" WHERE order_date = ?) '  # noqa: S608
            f"TO '{csv}' (FORMAT csv, HEADER)",
            [DAY],
        )
        ddl = []
        for catalog in ("duckdb_tables()", "duckdb_indexes()"):  # the table, then its indexes
            query = f"SELECT sql FROM {catalog} WHERE schema_name = ? AND table_name = ?"  # noqa: S608
            ddl += [row[0] for row in conn.execute(query, ["raw", "orders"]).fetchall()]
    return ddl


def duckdb_native_seconds(csv: Path, ddl: list[str], path: Path) -> float:
    """DuckDB's own CSV insert into a fresh file holding a table shaped like raw.orders."""
    path.unlink(missing_ok=True)
    columns = ", ".join(f'"{c}"' for c in orders_contract().column_names)
    with duckdb.connect(str(path)) as conn:
        conn.execute('CREATE SCHEMA "raw"')
        for statement in ddl:
            conn.execute(statement)
        started = time.perf_counter()
        conn.execute(
            f'INSERT INTO "raw"."orders" ({columns}) '  # noqa: S608
            f"SELECT {columns} FROM read_csv('{csv}', header = true)"
        )
        conn.execute("CHECKPOINT")
        seconds = time.perf_counter() - started
    path.unlink()
    return seconds


def baseline(profile: str, env: dict[str, str], home: Path) -> float:
    csv = home / "orders.csv"
    if profile == "postgres":
        url = env["PLATFORM_WAREHOUSE_URL"]
        pg_export(url, csv)
        return pg_copy_seconds(url, csv)
    ddl = duckdb_export(home / "warehouse.duckdb", csv)
    return duckdb_native_seconds(csv, ddl, home / "native.duckdb")


def one_repeat(profile: str, root: Path, api_url: str) -> dict[str, Any]:
    home = root / f"{profile}-{uuid.uuid4().hex[:6]}"
    with profile_env(profile, home, api_url) as env:
        figures = materialize(env)
        figures["baseline_s"] = baseline(profile, env, home)
    figures["loadavg_1m"] = os.getloadavg()[0]  # a busy machine stretches every figure
    return figures


# --- the run ---------------------------------------------------------------------------------


def warm_up(api_url: str) -> None:
    """The demo server generates and caches the day on its first request: not our cost."""
    import requests

    requests.get(
        f"{api_url}/v1/orders",
        params={"date": DAY.isoformat(), "limit": 1},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=600,
    ).raise_for_status()


def repeats_for(rows: int, given: int | None) -> int:
    if given is not None:
        return given
    return 3 if rows <= 1_000_000 else 1


def bench_size(rows: int, repeats: int, profiles: list[str]) -> dict[str, list[dict]]:
    cfg = config(rows)
    runs: dict[str, list[dict]] = {p: [] for p in profiles}
    with tempfile.TemporaryDirectory(prefix="bench-materialize-") as tmp:
        root = Path(tmp)
        first = DAY - timedelta(days=CUSTOMER_LOOKBACK_DAYS)
        seed_database(f"sqlite:///{root / 'storefront.db'}", cfg, first, DAY)
        with DemoApi(cfg, TOKEN) as api:
            warm_up(api.url)
            for repeat in range(repeats):  # profiles interleaved: the same machine state
                for profile in profiles:
                    figures = one_repeat(profile, root, api.url)
                    if figures["rows_loaded"] != rows:
                        raise RuntimeError(f"{profile}: loaded {figures['rows_loaded']} of {rows}")
                    say(f"  {rows} rows, {profile}, {repeat + 1}/{repeats}: {brief(figures)}")
                    runs[profile].append(figures)
    return runs


def brief(figures: dict[str, Any]) -> str:
    return (
        f"cli {figures['cli_s']:.2f} s, step {figures['step_s']:.2f} s, "
        f"baseline {figures['baseline_s']:.2f} s, rss {figures['rss_mb']:.0f} MB"
    )


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def median_split(runs: list[dict]) -> dict[str, Any]:
    def median(field: str, key: str, of: list[dict]) -> float:
        return round(statistics.median(r[field][key] for r in of), 3)

    phases = {k: median("phases", k, runs) for k in runs[0]["phases"] if k != "total_s"}
    split = {**phases, "gates": {k: median("gates", k, runs) for k in runs[0]["gates"]}}
    timed = [r for r in runs if "total_s" in r["phases"]]  # the asset body, as a whole
    # Per run, then the median. body_other_s: the table's DDL, opening the writer and the
    # per-chunk log lines (each an event written to the instance); dagster_in_step_s: the
    # materialization and check events and outputs after the body returned.
    if timed:
        parts = [sum(v for k, v in r["phases"].items() if k != "total_s") for r in timed]
        totals = [r["phases"]["total_s"] for r in timed]
        other = [total - part for total, part in zip(totals, parts, strict=True)]
        dagster = [r["step_s"] - total for r, total in zip(timed, totals, strict=True)]
        split["body_other_s"] = round(statistics.median(other), 3)
        split["asset_body_s"] = round(statistics.median(totals), 3)
        split["dagster_in_step_s"] = round(statistics.median(dagster), 3)
    split["run_s"] = median_of(runs, "run_s")
    split["cli_outside_run_s"] = round(median_of(runs, "cli_s") - split["run_s"], 3)
    return split


def ratio(fast: float | None, slow: float | None) -> float | None:
    """Speed of ``slow``'s path relative to ``fast``'s: fast seconds / slow seconds."""
    return None if not fast or not slow else round(fast / slow, 3)


def summarize(all_runs: dict[int, dict[str, list[dict]]], import_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "command": "python -m bench.materialize " + shlex.join(sys.argv[1:]),
        "day": DAY.isoformat(),
        "cpus": os.cpu_count(),
        "import_s": round(import_s, 3),
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    keys = ("copy_s", "step_s", "cli_s", "duckdb_native_s", "duckdb_step_s", "duckdb_cli_s")
    for key in (*keys, "split", "rss_mb", "repeats", "ratios"):
        out[key] = {}
    for rows, runs in all_runs.items():
        pg, em = runs.get("postgres"), runs.get("embedded")
        size = str(rows)
        out["repeats"][size] = len((pg or em) or [])
        out["split"][size], out["rss_mb"][size] = {}, {}
        if pg:
            out["copy_s"][size] = median_of(pg, "baseline_s")
            out["step_s"][size] = median_of(pg, "step_s")
            out["cli_s"][size] = median_of(pg, "cli_s")
            out["split"][size]["postgres"] = median_split(pg)
            out["rss_mb"][size]["postgres"] = round(statistics.median(r["rss_mb"] for r in pg))
        if em:
            out["duckdb_native_s"][size] = median_of(em, "baseline_s")
            out["duckdb_step_s"][size] = median_of(em, "step_s")
            out["duckdb_cli_s"][size] = median_of(em, "cli_s")
            out["split"][size]["embedded"] = median_split(em)
            out["rss_mb"][size]["embedded"] = round(statistics.median(r["rss_mb"] for r in em))
        out["ratios"][size] = {
            "step_vs_copy": ratio(out["copy_s"].get(size), out["step_s"].get(size)),
            "cli_vs_copy": ratio(out["copy_s"].get(size), out["cli_s"].get(size)),
            "duckdb_step_vs_native": ratio(
                out["duckdb_native_s"].get(size), out["duckdb_step_s"].get(size)
            ),
            "duckdb_cli_vs_native": ratio(
                out["duckdb_native_s"].get(size), out["duckdb_cli_s"].get(size)
            ),
        }
    out["rss_growth"] = rss_growth(out["rss_mb"])
    out["targets"] = TARGETS
    out["runs"] = {str(rows): runs for rows, runs in all_runs.items()}
    return out


def rss_growth(rss: dict[str, dict[str, float]]) -> dict[str, float]:
    """Peak RSS at the largest size over the smallest, per profile."""
    sizes = sorted(rss, key=int)
    if len(sizes) < 2:
        return {}
    small, large = rss[sizes[0]], rss[sizes[-1]]
    return {p: round(large[p] / small[p], 2) for p in large if p in small}


def print_table(results: dict[str, Any]) -> None:
    print(f"\nimport platform_assets.definitions: {results['import_s']:.2f} s (median of 3)")
    header = f"{'rows':>9} {'profile':<9} {'baseline':>9} {'step':>8} {'cli':>8} "
    header += f"{'step/base':>9} {'cli/base':>8} {'rss MB':>7}"
    print(header)
    for size, ratios in results["ratios"].items():
        for profile, base, step, cli, r_step, r_cli in (
            ("postgres", "copy_s", "step_s", "cli_s", "step_vs_copy", "cli_vs_copy"),
            ("embedded", "duckdb_native_s", "duckdb_step_s", "duckdb_cli_s",
             "duckdb_step_vs_native", "duckdb_cli_vs_native"),
        ):  # fmt: skip
            if size not in results[step]:
                continue
            print(
                f"{int(size):>9} {profile:<9} {results[base][size]:>8.2f}s "
                f"{results[step][size]:>7.2f}s {results[cli][size]:>7.2f}s "
                f"{ratios[r_step]:>8.2f}x {ratios[r_cli]:>7.2f}x "
                f"{results['rss_mb'][size][profile]:>7}"
            )
    for size, by_profile in results["split"].items():
        for profile, split in by_profile.items():
            phases = ", ".join(f"{k} {v}" for k, v in split.items() if k != "gates")
            gates = ", ".join(f"{k} {v}" for k, v in split["gates"].items())
            print(f"{int(size):>9} {profile:<9} {phases}\n{'':>20}gates: {gates}")
    print("baseline: psql \\copy (postgres), DuckDB INSERT ... read_csv (embedded)")


def resummarize(path: Path) -> None:
    """The summary of the runs stored in ``path`` (e.g. after the summary changed)."""
    stored = json.loads(path.read_text())
    all_runs = {int(size): runs for size, runs in stored["runs"].items()}
    results = summarize(all_runs, stored["import_s"])
    results["command"], results["loadavg_at_end"] = stored["command"], stored["loadavg_at_end"]
    path.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=counts, default=DEFAULT_ROWS, help="comma-separated row counts"
    )
    parser.add_argument(
        "--repeats", type=positive, default=None, help="default: 3 up to 1M rows, 1 above"
    )
    parser.add_argument(
        "--profiles", type=names_of(PROFILES), default=list(PROFILES), help="postgres,embedded"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--summarize-only",
        action="store_true",
        help="rebuild the summary and table from the runs already in --output; no runs",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.summarize_only:
        resummarize(args.output)
        return
    sizes, profiles = args.rows, args.profiles
    say("import time of the code location")
    import_s = import_seconds()
    all_runs: dict[int, dict[str, list[dict]]] = {}
    for rows in sizes:
        say(f"{rows} rows: {repeats_for(rows, args.repeats)} repeats, profiles {profiles}")
        started = time.perf_counter()
        all_runs[rows] = bench_size(rows, repeats_for(rows, args.repeats), profiles)
        say(f"{rows} rows took {time.perf_counter() - started:.0f} s")
        results = summarize(all_runs, import_s)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n")  # after every size
    print_table(results)


if __name__ == "__main__":
    main()
