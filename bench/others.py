"""The contenders that are not the platform, each in its own process: ``python -m bench.others``.

* ``naive``: requests + pandas + ``DataFrame.to_sql(method="multi")``, the common script.
* ``dlt``: dlt's ``rest_api`` source into PostgreSQL with its defaults (bench extra only).
* ``source``: only fetching every page from the demo API (no decoding): the source's ceiling.

Each serves the same orders from its own demo API child process and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator

import pandas as pd
import requests
import sqlalchemy as sa

from bench.data import DAY, TOKEN, config
from bench.e2e import PAGE_SIZE, warm_up
from platform_assets.demo.process import DemoApi


def get(session: requests.Session, api_url: str, offset: int) -> requests.Response:
    response = session.get(
        f"{api_url}/v1/orders",
        params={"date": DAY.isoformat(), "offset": offset, "limit": PAGE_SIZE},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    response.raise_for_status()
    return response


def pages(api_url: str) -> Iterator[list[dict]]:
    """Offset pagination as a script would write it: JSON into dicts, page by page."""
    offset = 0
    with requests.Session() as session:
        while True:
            rows = get(session, api_url, offset).json()["data"]
            if rows:
                yield rows
            offset += len(rows)
            if len(rows) < PAGE_SIZE:
                return


def naive(api_url: str, url: str, _rows: int) -> dict:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS naive CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA naive"))
    started = time.perf_counter()
    for rows in pages(api_url):
        pd.DataFrame(rows).to_sql(
            "orders", engine, schema="naive", if_exists="append", index=False, method="multi"
        )
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM naive.orders")).scalar_one()
    engine.dispose()
    return {"seconds": seconds, "loaded": loaded}


def dlt_load(api_url: str, url: str, _rows: int) -> dict:
    import dlt  # the bench extra: never a runtime dependency
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source(
        {
            "client": {
                "base_url": api_url + "/",
                "auth": {"type": "bearer", "token": TOKEN},
                "paginator": {
                    "type": "offset",
                    "limit": PAGE_SIZE,
                    "offset_param": "offset",
                    "limit_param": "limit",
                    "total_path": "total",
                },
            },
            "resources": [
                {
                    "name": "orders",
                    "endpoint": {
                        "path": "v1/orders",
                        "params": {"date": DAY.isoformat()},
                        "data_selector": "data",
                    },
                }
            ],
        }
    )
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as pipelines_dir:
        pipeline = dlt.pipeline(
            pipeline_name="bench_orders",
            destination=dlt.destinations.postgres(credentials=_with_password(url)),
            dataset_name="dlt_bench",
            pipelines_dir=pipelines_dir,
        )
        started = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - started
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        loaded = conn.execute(sa.text("SELECT count(*) FROM dlt_bench.orders")).scalar_one()
        conn.execute(sa.text("DROP SCHEMA dlt_bench CASCADE"))
        conn.commit()
    engine.dispose()
    return {"seconds": seconds, "loaded": loaded}


def _with_password(url: str) -> str:
    """dlt refuses credentials without a password; a trust-auth server ignores this one."""
    parsed = sa.engine.make_url(url)
    if parsed.password is None:
        parsed = parsed.set(password="unused-under-trust-auth")
    return parsed.render_as_string(hide_password=False)


def source_only(api_url: str, _url: str, rows: int) -> dict:
    started = time.perf_counter()
    with requests.Session() as session:
        size = sum(len(get(session, api_url, o).content) for o in range(0, rows, PAGE_SIZE))
    return {"seconds": time.perf_counter() - started, "loaded": None, "bytes": size}


CONTENDERS = {"naive": naive, "dlt": dlt_load, "source": source_only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contender", choices=sorted(CONTENDERS))
    parser.add_argument("--rows", type=int, required=True)
    args = parser.parse_args()
    url = os.environ["PLATFORM_BENCH_WAREHOUSE_URL"]  # not argv: ps would show a password
    with DemoApi(config(args.rows), TOKEN) as api:
        warm_up(api.url)
        result = CONTENDERS[args.contender](api.url, url, args.rows)
    print(json.dumps({"contender": args.contender, "rows": args.rows, **result}))


if __name__ == "__main__":
    main()
