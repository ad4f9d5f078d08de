"""The Dagster UI of a real ``platform dev`` (child process) in a real headless Chromium:
asset checks show their status per partition, so a failed day leaves a passing day green.

Two days of ``marketing_spend`` -> ``stg_marketing_spend`` are materialized in-process into
the instance ``platform dev`` then serves: the earlier day passes, the later one fails its
quarantine and volume gates (two of its five rows spoiled), so its staging step never runs.
The check list shows the latest execution (the failed day); each check's Partitions tab
shows every day with its own result.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
import requests

from platform_assets.contracts import contracts
from platform_assets.demo.config import demo_landing_dir as landing_dir
from platform_assets.demo.drops import write_drops
from platform_assets.home import prepare_environment
from platform_assets.processes import default_signals, stop_group
from platform_assets_tests.conftest import TEST_DAY
from platform_assets_tests.launcher import PLATFORM, PLATFORM_DEV_GROUP
from platform_assets_tests.quality.test_gates import materialized, run
from platform_assets_tests.quality.test_partitioned_checks import (
    FAILING,
    PASSING,
    RAW,
    STAGED,
    spoil_drop,
)

REPO = Path(__file__).resolve().parents[1]
UI_TIMEOUT_S = 240  # platform dev seeds the demo sources, then the UI loads the code location
STATES = ("Execution Failed", "Failed", "In Progress", "Missing", "Skipped", "Passed")
COUNT = re.compile(rf"^({'|'.join(STATES)}) \((\d+)\)$")
FAILED_CHECKS = {"quarantine_rate", "volume_anomaly"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_ui(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + UI_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"platform dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    pytest.fail(f"the UI at {url} did not answer in {UI_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def ui(make_platform, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """``platform dev`` on free ports over an instance holding the two days; its URL."""
    platform = make_platform()
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    prepare_environment(env)  # the platform's default instance under its home
    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])
    write_drops(
        Path(landing_dir(platform.env)), platform.cfg, TEST_DAY - timedelta(days=1), TEST_DAY
    )
    spoil_drop(platform, FAILING)
    with dg.DagsterInstance.get() as instance:
        passing = run(platform, instance, RAW, STAGED, partition=PASSING)
        failing = run(platform, instance, RAW, STAGED, partition=FAILING)
    assert passing.success and materialized(passing) == {RAW, STAGED}
    assert not failing.success and materialized(failing) == {RAW}
    ui_port = free_port()
    env |= {"PLATFORM_UI_PORT": str(ui_port), "PLATFORM_DEV_API_PORT": str(free_port())}
    log = tmp_path / "platform-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PLATFORM), "dev"],
            cwd=REPO,
            env=env,
            start_new_session=True,
            preexec_fn=default_signals,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{ui_port}"
        wait_for_ui(url, proc, log)
        yield url
    finally:
        stop_group(proc)


def partition_states(page, partition: str) -> dict[str, int]:
    """The check's Partitions tab filtered to one partition: its counts per state."""
    page.get_by_placeholder("Filter by partition").fill(partition)
    page.get_by_text("1 Partitions Selected", exact=True).wait_for()
    labels = page.locator("label").all_inner_texts()
    found = {m[1]: int(m[2]) for m in map(COUNT.match, (t.strip() for t in labels)) if m}
    assert set(found) == set(STATES), labels
    return {state: n for state, n in found.items() if n}


def open_check_partitions(page, url: str, asset: str, check: str) -> None:
    page.goto(f"{url}/assets/{asset}?view=checks&checkDetail={check}")
    page.locator("button[role=tab]#partitions").click(timeout=120_000)


@pytest.mark.xdist_group(PLATFORM_DEV_GROUP)
def test_checks_are_green_on_the_passing_day_and_red_only_on_the_failed_one(ui, browser) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    for check in contracts()[RAW].check_names:
        open_check_partitions(page, ui, RAW, check)
        assert partition_states(page, PASSING) == {"Passed": 1}, check
        expected = "Failed" if check in FAILED_CHECKS else "Passed"
        assert partition_states(page, FAILING) == {expected: 1}, check

    # The list beside shows each check's latest execution: the failed day's. The passing
    # day, picked in the Partitions tab, is still green.
    open_check_partitions(page, ui, RAW, "quarantine_rate")
    listed = page.locator("span:has(> div[title='quarantine_rate']) > span").first
    assert listed.inner_text() == "Failed"
    partition_states(page, PASSING)
    page.get_by_text(PASSING, exact=True).first.click()
    page.get_by_text("0 of 5 rows quarantined (0.00%; max 20.00%)").wait_for()
    assert page.locator("text='Passed' >> visible=true").count() == 1  # the day's badge

    # Downstream: the passing day was built and checked; on the failed day the step was
    # skipped by the gate, so its planned checks never executed (that day only).
    open_check_partitions(page, ui, STAGED, "primary_key_unique_not_null")
    assert partition_states(page, PASSING) == {"Passed": 1}
    assert partition_states(page, FAILING) == {"Execution Failed": 1}
