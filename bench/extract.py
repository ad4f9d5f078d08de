"""REST extraction alone: ``python -m bench.extract``; results in bench/results/extract.json.

* Throughput of one day of orders through ``RestApi.pages`` against the demo API process
  with a per-request latency (as a remote API has), sequentially and in parallel slices.
* The cost of one rate-limiter reservation per backend (process-local, SQLite, PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import psycopg

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.faults import Faults
from platform_assets.demo.process import DemoApi
from platform_assets.sources.ratelimit import rate_limiter
from platform_assets.sources.rest import Endpoint, OffsetPagination, RestApi

TOKEN = "bench-extract-token"
DAY = dt.date(2026, 3, 10)
ORDERS = 20_000
LATENCY_MS = 20
ENDPOINT = Endpoint("/v1/orders", OffsetPagination(), total_field="total")
RESULTS = Path(__file__).parent / "results" / "extract.json"
POSTGRES_URL = os.environ.get(
    "PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def extraction(api: DemoApi, workers: int) -> dict:
    rest = RestApi(base_url=api.url, token=TOKEN, page_size=1000, max_workers=workers)
    started = time.perf_counter()
    rows = sum(len(f) for f in rest.pages(ENDPOINT, {"date": DAY.isoformat()}))
    seconds = time.perf_counter() - started
    assert rows == ORDERS
    return {"workers": workers, "rows": rows, "seconds": round(seconds, 3),
            "rows_per_s": round(rows / seconds)}  # fmt: skip


def limiter_cost(store: str, n: int = 500) -> float:
    limiter = rate_limiter(store, "bench", rate_per_s=1e9, burst=1_000_000)
    started = time.perf_counter()
    for _ in range(n):
        limiter.acquire()
    limiter.close()
    return round((time.perf_counter() - started) / n * 1e6, 1)


def main() -> None:
    with DemoApi(DemoConfig(orders_per_day=ORDERS), TOKEN) as api:
        api.set_faults(Faults(latency_ms=LATENCY_MS))
        extractions = [extraction(api, workers) for workers in (1, 2, 4)]
    with tempfile.TemporaryDirectory() as tmp:
        costs = {"local": limiter_cost(""), "sqlite": limiter_cost(f"{tmp}/bucket.sqlite")}
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
        costs["postgres"] = limiter_cost(POSTGRES_URL)
    except psycopg.OperationalError as exc:
        print(f"postgres limiter skipped: {exc}")
    result = {"latency_ms": LATENCY_MS, "extractions": extractions, "acquire_us": costs}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"orders {ORDERS} rows, 1000/page, {LATENCY_MS} ms latency per request")
    print(f"{'workers':>8} {'seconds':>8} {'rows/s':>8}")
    for e in extractions:
        print(f"{e['workers']:>8} {e['seconds']:>8} {e['rows_per_s']:>8}")
    print("rate-limiter reservation, microseconds:", costs)


if __name__ == "__main__":
    main()
