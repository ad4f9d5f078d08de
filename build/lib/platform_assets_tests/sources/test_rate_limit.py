"""A client-side limit below the server's means no 429, across threads and processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from platform_assets.demo.faults import Faults
from platform_assets.demo.generator import orders_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.ratelimit import SqliteTokenBucket
from platform_assets.sources.rest import RetriesExhaustedError
from platform_assets_tests.sources.conftest import CFG, DAY, TOKEN, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS

SERVER_LIMIT = Faults(rate_limit_per_s=20, rate_limit_burst=2)
CLIENT_LIMIT = {"rate_limit_per_s": 8.0, "rate_limit_burst": 1, "max_attempts": 1}
CHILD = """
import json, os, sys
from platform_assets.sources.rest import RestApi
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS
settings = json.loads(sys.argv[1])
api = RestApi(token=os.environ["SRC_TEST_TOKEN"], **settings)
print(sum(len(f) for f in api.pages(ENDPOINTS["offset"], PARAMS)))
"""


def _child(settings: dict) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SRC_TEST_TOKEN": TOKEN},
        start_new_session=True,
    )


def _wait(child: subprocess.Popen[str]) -> str:
    try:
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, 9)
            child.wait()
    assert child.returncode == 0, err
    return out


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ratelimit.sqlite")
    return request.getfixturevalue("make_pg_database")()


def test_no_429_when_threads_and_processes_share_the_bucket(api: DemoApi, store: str) -> None:
    """Two processes, one of them with 2 worker threads, all under one bucket; max_attempts=1,
    so a single 429 anywhere would fail an extraction."""
    api.set_faults(SERVER_LIMIT)
    settings = {"base_url": api.url, "page_size": 100, "rate_limit_store": store, **CLIENT_LIMIT}
    child = _child(settings)
    try:
        rest = client(api, **settings, max_workers=2)
        with ThreadPoolExecutor(2) as pool:
            extractions = [pool.submit(lambda: collect(rest.pages(ENDPOINTS["offset"], PARAMS)))]
            extractions.append(
                pool.submit(lambda: collect(rest.pages(ENDPOINTS["cursor"], PARAMS)))
            )
            rows = [len(e.result()) for e in extractions]
    finally:
        child_rows = int(_wait(child))
    expected = len(orders_for_day(DAY, CFG))
    assert child_rows == expected and rows[0] == expected
    stats = api.stats()
    assert "429" not in stats["by_status"]
    assert stats["requests"] == 5 + 5 + rows[1] // 100 + 1


def test_without_the_client_limit_the_server_throttles(api: DemoApi) -> None:
    """The control: the same load with no client-side limit meets the server's 429."""
    api.set_faults(Faults(rate_limit_per_s=2, rate_limit_burst=1))
    with pytest.raises(RetriesExhaustedError, match="HTTP 429"):
        collect(client(api, max_attempts=1).pages(ENDPOINTS["offset"], PARAMS))


def test_the_bucket_spaces_requests_by_reservation(tmp_path: Path) -> None:
    """GCRA arithmetic, with the sleep recorded instead of slept: a burst, then 1/rate apart."""
    waits: list[float] = []
    sleep: Callable[[float], None] = waits.append
    bucket = SqliteTokenBucket(tmp_path / "b.sqlite", "api", rate_per_s=10, burst=3, sleep=sleep)
    for _ in range(6):
        bucket.acquire()
    # 3 pass at once; the next 3 reserve slots 0.1 s apart (minus the few ms the loop took).
    assert len(waits) == 3
    assert [round(w, 1) for w in waits] == [0.1, 0.2, 0.3]
