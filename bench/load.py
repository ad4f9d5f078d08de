"""Loading benchmark on PostgreSQL: ``make bench`` (``python -m bench.load``).

Side by side, on the same demo orders: (a) ``psql \\copy`` of them as CSV, the physical
reference; (b) the platform's load stage alone (typed DataFrame chunks -> partition
replace); (c) the platform end to end for one partition (demo API -> validation -> load)
as configured by default (one fetch worker, sequential pages read ahead), then with two
parallel fetch workers (``PLATFORM_API_WORKERS=2``), and the demo API's own ceiling
(fetching only); (d) requests + pandas + ``to_sql(method="multi")`` on a sample;
(e) dlt's ``rest_api`` source with its defaults on a sample; peak RSS of (c) per size.

Results: ``bench/results/load.json`` and a table on stdout. Rates are rows per second;
(a) and (b) are medians of ``--reps`` runs, the slow contenders run once per size.
The machine has 2 cores shared with other work: treat differences under ~15% as noise.
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bench.args import counts, positive
from bench.data import DAY, source_rows, typed_chunks, write_csv
from bench.data import orders_contract as contract
from bench.postgres import libpq_env
from platform_assets.warehouse.resource import Warehouse

RESULTS = Path(__file__).parent / "results" / "load.json"
SERVER_URL = os.environ.get(
    "PLATFORM_BENCH_POSTGRES_URL",
    os.environ.get("PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
CHILD_TIMEOUT_S = 900


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"platform_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(SERVER_URL)
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            c.execute(drop.format(sql.Identifier(name)))


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute('TRUNCATE "raw"."orders"')
        conn.execute("CHECKPOINT")  # every contender starts without the last one's dirty pages


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute('SELECT count(*) FROM "raw"."orders"').fetchone()
    assert row is not None
    return row[0]


def timed(setup: Callable[[], None], run: Callable[[], None], reps: int) -> list[float]:
    seconds = []
    for _ in range(reps):
        setup()
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


def psql_copy(url: str, csv: Path, rows: int) -> None:
    columns = ", ".join(f'"{c}"' for c in contract().column_names)
    command = f'\\copy "raw"."orders" ({columns}) FROM \'{csv}\' WITH (FORMAT csv, HEADER true)'
    subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", command],
        env=libpq_env(url),
        check=True,
        timeout=CHILD_TIMEOUT_S,
    )
    assert count(url) == rows


def load_stage(url: str, chunks: list, rows: int) -> None:
    warehouse = Warehouse(url=url)
    with warehouse.partition_writer(contract(), DAY, "orders", DAY.isoformat(), "bench") as w:
        for chunk in chunks:
            w.append(chunk)
    assert count(url) == rows


def child(module: str, args: list[str], url: str) -> dict[str, Any]:
    """Run ``python -m module args`` with a timeout; its last stdout line is JSON."""
    env = {
        **os.environ,
        "PLATFORM_BENCH_WAREHOUSE_URL": url,
        "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt: no network calls from the bench
    }
    with tempfile.TemporaryDirectory(prefix="bench-home-") as home:
        env["HOME"] = home  # dlt keeps state under ~/.dlt
        done = subprocess.run(
            [sys.executable, "-m", module, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            start_new_session=True,
        )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["exit " + str(done.returncode)]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def rate(result: dict[str, Any]) -> float | None:
    return None if "error" in result else result["rows"] / result["seconds"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=positive, default=1_000_000)
    parser.add_argument("--reps", type=positive, default=3)
    parser.add_argument("--chunk", type=positive, default=1_000, help="rows per chunk for (b)")
    parser.add_argument("--naive-rows", type=positive, default=20_000)
    parser.add_argument("--dlt-rows", type=positive, default=100_000)
    parser.add_argument("--rss-rows", type=counts, default=[100_000, 1_000_000, 5_000_000])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    with bench_database() as url, tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        results = run_all(url, Path(tmp), args, args.rss_rows)
    results["bench_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwrote {RESULTS} in {results['bench_seconds']} s")


def run_all(url: str, tmp: Path, args: argparse.Namespace, rss_rows: list[int]) -> dict:
    rows = args.rows
    Warehouse(url=url).ensure_table(contract())
    frame = source_rows(rows)
    csv = tmp / "orders.csv"
    write_csv(frame, csv)
    chunks = typed_chunks(frame, args.chunk)
    del frame
    runs: dict[str, Any] = {"copy": [], "load": []}
    say = print
    say(f"(a) psql \\copy and (b) load stage ({args.chunk}-row chunks), {rows} rows, interleaved")
    for _ in range(args.reps):  # interleaved, so a burst of load elsewhere hits both
        runs["copy"] += timed(lambda: truncate(url), lambda: psql_copy(url, csv, rows), 1)
        runs["load"] += timed(lambda: truncate(url), lambda: load_stage(url, chunks, rows), 1)
    chunks.clear()
    e2e: dict[int, dict] = {}
    for n in sorted({rows, *rss_rows}):
        say(f"(c) end to end, {n} rows, child process")
        truncate(url)
        e2e[n] = child("bench.e2e", ["--rows", str(n)], url)
    say(f"(c2) end to end with 2 fetch workers, {rows} rows")
    truncate(url)
    two_workers = child("bench.e2e", ["--rows", str(rows), "--workers", "2"], url)
    say(f"    demo API ceiling: fetching {rows} rows without decoding")
    source = child("bench.others", ["source", "--rows", str(rows)], url)
    say(f"(d) requests + pandas + to_sql(multi), {args.naive_rows} rows")
    naive = child("bench.others", ["naive", "--rows", str(args.naive_rows)], url)
    say(f"(e) dlt rest_api -> postgres (defaults), {args.dlt_rows} rows")
    dlt = child("bench.others", ["dlt", "--rows", str(args.dlt_rows)], url)
    return summarize(rows, args, runs, e2e, two_workers, source, naive, dlt)


def summarize(rows, args, runs, e2e, two_workers, source, naive, dlt) -> dict[str, Any]:
    copy_rate = rows / statistics.median(runs["copy"])
    load_rate = rows / statistics.median(runs["load"])
    e2e_rate = rate(e2e[rows])
    to_sql_rate, dlt_rate = rate(naive), rate(dlt)

    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a / b, 2)

    rss = {str(n): round(r["max_rss_mb"], 1) for n, r in e2e.items() if "error" not in r}
    smallest, largest = min(e2e), max(e2e)
    rss_growth = ratio(e2e[largest].get("max_rss_mb"), e2e[smallest].get("max_rss_mb"))
    return {
        "rows": rows,
        "columns": len(contract().columns),
        "chunk_rows_load_stage": args.chunk,
        "copy_rows_s": round(copy_rate),
        "load_rows_s": round(load_rate),
        "e2e_rows_s": None if e2e_rate is None else round(e2e_rate),
        "to_sql_rows_s": None if to_sql_rate is None else round(to_sql_rate),
        "dlt_rows_s": None if dlt_rate is None else round(dlt_rate),
        "rss_mb": rss,
        "e2e_2_workers_rows_s": None if rate(two_workers) is None else round(rate(two_workers)),
        "demo_api_ceiling_rows_s": None if rate(source) is None else round(rate(source)),
        "ratios": {
            "load_vs_copy": ratio(load_rate, copy_rate),
            "e2e_vs_copy": ratio(e2e_rate, copy_rate),
            "e2e_vs_to_sql": ratio(e2e_rate, to_sql_rate),
            "e2e_vs_dlt": ratio(e2e_rate, dlt_rate),
            "e2e_2_workers_vs_copy": ratio(rate(two_workers), copy_rate),
            "e2e_2_workers_vs_to_sql": ratio(rate(two_workers), to_sql_rate),
            "e2e_2_workers_vs_dlt": ratio(rate(two_workers), dlt_rate),
            f"rss_{largest}_vs_{smallest}": rss_growth,
        },
        "targets": {
            "load_vs_copy >= 1.0": ratio(load_rate, copy_rate),
            "e2e_vs_copy >= 0.4": ratio(e2e_rate, copy_rate),
            "e2e_vs_to_sql >= 10": ratio(e2e_rate, to_sql_rate),
            "e2e_vs_dlt >= 3": ratio(e2e_rate, dlt_rate),
            "rss_largest_vs_smallest <= 1.25": rss_growth,
        },
        "seconds": {k: [round(s, 3) for s in v] for k, v in runs.items()},
        "e2e_runs": {str(n): r for n, r in e2e.items()},
        "e2e_2_workers_run": two_workers,
        "demo_api_ceiling_run": source,
        "to_sql_run": {**naive, "note": "sample; rows/s extrapolates linearly"},
        "dlt_run": {**dlt, "note": "sample; dlt defaults (insert_values loader)"},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "note": "2 shared cores, other engineers' tests running: noisy",
        },
    }


def print_table(results: dict[str, Any]) -> None:
    copy_rate = results["copy_rows_s"]
    lines = [
        ("(a) psql \\copy CSV", results["copy_rows_s"]),
        ("(b) platform load stage", results["load_rows_s"]),
        ("(c) platform end to end", results["e2e_rows_s"]),
        ("(c2) e2e, 2 fetch workers", results["e2e_2_workers_rows_s"]),
        ("    demo API ceiling", results["demo_api_ceiling_rows_s"]),
        ("(d) to_sql(multi) [sample]", results["to_sql_rows_s"]),
        ("(e) dlt rest_api [sample]", results["dlt_rows_s"]),
    ]
    print(f"\n{'contender':<30}{'rows/s':>12}{'vs (a)':>9}")
    for name, value in lines:
        shown = "failed" if value is None else f"{value:,}"
        versus = "" if value is None else f"{value / copy_rate:.2f}x"
        print(f"{name:<30}{shown:>12}{versus:>9}")
    run = results["e2e_runs"].get(str(results["rows"]), {})
    if "error" not in run:
        print(
            f"\n(c) at {results['rows']} rows: waited {run['extract_s']} s for extraction, "
            f"validated {run['validate_s']} s, loaded {run['load_s']} s; CPU: pipeline "
            f"{run['cpu_s']} s, demo API {run['api_cpu_s']} s"
        )
    rss = ", ".join(f"{n} rows: {mb}" for n, mb in results["rss_mb"].items())
    print(f"\npeak RSS of (c), MB: {rss}")
    print("\ntargets:")
    for target, value in results["targets"].items():
        print(f"  {target:<36} {value}")


if __name__ == "__main__":
    main()
