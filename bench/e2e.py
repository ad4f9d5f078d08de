"""One end-to-end load of one partition, in its own process: ``python -m bench.e2e``.

demo API child process -> RestApi pages -> contract validation -> partition replace, the
raw asset's loop (``components/raw_asset.py``: the orders table as configured in
``defs/storefront_api/defs.yaml``, pages joined by ``validation_batches``) without the
Dagster run around it and without the asset checks.
Prints one JSON line: seconds, rows, the time split and this process's peak RSS (VmHWM; the
demo API server is another process and not counted).

Ablations, to measure what each part of the wiring is worth (``bench.levers``):
``--batch 1`` validates page by page (no joining); ``--generic-decode`` decodes pages with
stdlib JSON into dicts instead of ``sources/decode.py``; ``--no-read-ahead`` fetches
sequential pages on the consumer's thread; ``--workers N`` fetches offset slices in parallel.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import requests
import yaml

from bench.data import DAY, TOKEN, config, orders_contract
from platform_assets.components.raw_asset import ExtractRequest
from platform_assets.components.rest_api import Table
from platform_assets.contracts.loader import DEFS_DIR
from platform_assets.demo.process import DemoApi
from platform_assets.quality.drift import FrameDrift
from platform_assets.quality.validation import (
    VALIDATION_BATCH_ROWS,
    validate_chunk,
    validation_batches,
)
from platform_assets.sources import rest
from platform_assets.sources.rest import RestApi
from platform_assets.warehouse.resource import Warehouse

PAGE_SIZE = 1000  # the demo API's maximum
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "1"))


def configured_orders() -> Table:
    """The orders table's entry in the demo's defs.yaml (its endpoint, params, paginator)."""
    defs = yaml.safe_load((DEFS_DIR / "storefront_api" / "defs.yaml").read_text())
    [entry] = [t for t in defs["attributes"]["tables"] if t["contract"] == "orders.yaml"]
    return Table.model_validate(entry)


def platform_pages(
    api_url: str, workers: int, batch: int, generic_decode: bool
) -> Iterator[pd.DataFrame]:
    """The orders asset's extractor, as configured in defs/, with no rate limit."""
    api = RestApi(base_url=api_url, token=TOKEN, page_size=PAGE_SIZE, max_workers=workers)
    request = ExtractRequest(DAY, None, logging.getLogger("bench"))
    table = configured_orders()
    # Without the contract's columns the extractor cannot decode pages the fast way.
    columns = None if generic_decode else orders_contract().column_names
    pages = api.pages(table.endpoint(), table.render_params(request), request.log, columns)
    return validation_batches(pages, batch)


def warm_up(api_url: str) -> None:
    """The demo server generates and caches the day on its first request: not our cost."""
    requests.get(
        f"{api_url}/v1/orders",
        params={"date": DAY.isoformat(), "limit": 1},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=300,
    ).raise_for_status()


def run(url: str, rows: int, args: argparse.Namespace) -> dict:
    contract = orders_contract()
    warehouse = Warehouse(url=url)
    warehouse.ensure_table(contract)
    with DemoApi(config(rows), TOKEN) as api:
        warm_up(api.url)
        frames = platform_pages(api.url, args.workers, args.batch, args.generic_decode)
        split = {"extract_s": 0.0, "validate_s": 0.0, "load_s": 0.0}
        api_cpu, cpu = process_cpu_s(api.pid), time.process_time()
        started = time.perf_counter()
        with warehouse.partition_writer(contract, DAY, "orders", DAY.isoformat(), "bench") as w:
            drift = FrameDrift(contract)
            while True:
                t0 = time.perf_counter()
                frame = next(frames, None)
                t1 = time.perf_counter()
                split["extract_s"] += t1 - t0
                if frame is None:
                    break
                chunk = drift.add(validate_chunk(frame, contract, pd.Timestamp(DAY)))
                t2 = time.perf_counter()
                w.append(chunk)
                split["validate_s"] += t2 - t1
                split["load_s"] += time.perf_counter() - t2
        seconds = time.perf_counter() - started
        cpu, api_cpu = time.process_time() - cpu, process_cpu_s(api.pid) - api_cpu
    loaded = warehouse.count(contract, DAY)
    if loaded != rows or w.stats.quarantined:
        raise RuntimeError(f"loaded {loaded} rows ({w.stats.quarantined} quarantined) of {rows}")
    return {
        "workers": args.workers,
        "batch": args.batch,
        "decode": "generic" if args.generic_decode else "fast",
        "read_ahead": not args.no_read_ahead,
        "rows": rows,
        "seconds": seconds,
        **{k: round(v, 3) for k, v in split.items()},
        "cpu_s": round(cpu, 3),  # this process, all threads (the machine is shared: noisy wall)
        "api_cpu_s": round(api_cpu, 3),  # the demo API server process
        "chunks": w.stats.chunks,
        "max_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def process_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of another process so far (Linux /proc)."""
    if pid is None:
        raise RuntimeError("the demo API is not running")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). ``ru_maxrss`` alone is not enough on Linux: it keeps
    the high-water mark across fork+exec, so a child of a big parent reports the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status: peak RSS needs Linux")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--batch", type=int, default=VALIDATION_BATCH_ROWS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--generic-decode", action="store_true")
    parser.add_argument("--no-read-ahead", action="store_true")
    args = parser.parse_args()
    if args.no_read_ahead:  # ablation only: sequential pages fetched on the consumer's thread
        rest.read_ahead = lambda items, depth: iter(items)
    url = os.environ["PLATFORM_BENCH_WAREHOUSE_URL"]  # not argv: ps would show a password
    print(json.dumps(run(url, args.rows, args)))


if __name__ == "__main__":
    main()
