"""One end-to-end load of one partition, in its own process: ``python -m bench.e2e``.

demo API child process -> RestApi pages -> contract validation -> partition replace, the
raw asset's loop (``assets/raw.py``) without the Dagster run around it and without the
asset checks. Prints one JSON line: seconds, rows, the time split and this process's peak
RSS (VmHWM; the demo API server is another process and not counted).

``--mode prototype`` is the proposed wiring, for comparison only: pages decoded with
``sources/decode.py`` and validated in batches of ``--batch`` rows instead of per page.
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

from bench.data import DAY, TOKEN, config, orders_contract
from platform_assets.assets.raw import RAW_SOURCES, ExtractRequest
from platform_assets.demo.process import DemoApi
from platform_assets.quality.drift import FrameDrift
from platform_assets.quality.validation import validate_chunk
from platform_assets.sources.decode import PageDecoder
from platform_assets.sources.rest import RestApi
from platform_assets.warehouse.resource import Warehouse

PAGE_SIZE = 1000  # the demo API's maximum
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "1"))


def platform_pages(api_url: str) -> Iterator[pd.DataFrame]:
    """The orders asset's extractor, as configured in RAW_SOURCES, with no rate limit."""
    api = RestApi(base_url=api_url, token=TOKEN, page_size=PAGE_SIZE, max_workers=WORKERS)
    source = next(s for s in RAW_SOURCES if s.table == "orders")
    return source.extract(api, ExtractRequest(DAY, None, logging.getLogger("bench")))


def prototype_pages(api_url: str, batch: int) -> Iterator[pd.DataFrame]:
    """Offset pages decoded by PageDecoder, concatenated into batches of ``batch`` rows."""
    decoder = PageDecoder(orders_contract().column_names)
    pending: list[pd.DataFrame] = []
    rows = offset = 0
    with requests.Session() as session:
        while True:
            response = session.get(
                f"{api_url}/v1/orders",
                params={"date": DAY.isoformat(), "offset": offset, "limit": PAGE_SIZE},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            )
            response.raise_for_status()
            page = decoder.decode(response.content)
            offset += page.rows
            if page.rows:
                pending.append(page.frame)
                rows += page.rows
            done = page.rows < PAGE_SIZE or offset >= page.body["total"]
            if pending and (rows >= batch or done):
                yield pd.concat(pending, ignore_index=True)
                pending, rows = [], 0
            if done:
                return


def warm_up(api_url: str) -> None:
    """The demo server generates and caches the day on its first request: not our cost."""
    requests.get(
        f"{api_url}/v1/orders",
        params={"date": DAY.isoformat(), "limit": 1},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=300,
    ).raise_for_status()


def run(url: str, rows: int, mode: str, batch: int) -> dict:
    contract = orders_contract()
    warehouse = Warehouse(url=url)
    warehouse.ensure_table(contract)
    with DemoApi(config(rows), TOKEN) as api:
        warm_up(api.url)
        frames = platform_pages(api.url) if mode == "platform" else prototype_pages(api.url, batch)
        split = {"extract_s": 0.0, "validate_s": 0.0, "load_s": 0.0}
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
    loaded = warehouse.count(contract, DAY)
    if loaded != rows or w.stats.quarantined:
        raise RuntimeError(f"loaded {loaded} rows ({w.stats.quarantined} quarantined) of {rows}")
    return {
        "mode": mode,
        "rows": rows,
        "seconds": seconds,
        **{k: round(v, 3) for k, v in split.items()},
        "chunks": w.stats.chunks,
        "max_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


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
    parser.add_argument("--mode", choices=["platform", "prototype"], default="platform")
    parser.add_argument("--batch", type=int, default=50_000)
    args = parser.parse_args()
    url = os.environ["PLATFORM_BENCH_WAREHOUSE_URL"]  # not argv: ps would show a password
    print(json.dumps(run(url, args.rows, args.mode, args.batch)))


if __name__ == "__main__":
    main()
