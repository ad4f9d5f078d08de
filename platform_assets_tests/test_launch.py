"""`make run` for real: a child process on a fresh PLATFORM_HOME, as a new user would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import pytest
import requests

from platform_assets.demo.launch import latest_complete_day
from platform_assets.home import EMBEDDED_INSTANCE
from platform_assets_tests.launcher import PLATFORM, PLATFORM_DEV_GROUP, platform_run, user_env

REPO = Path(__file__).resolve().parents[1]
ASSETS = (
    "customers orders payments marketing_spend stg_customers stg_orders stg_payments "
    "stg_marketing_spend daily_revenue_by_country marketing_roas customer_lifetime_value "
    "shipment_events quality_report"
).split()


def test_platform_run_materializes_everything_and_prints_the_summary(tmp_path: Path) -> None:
    proc = platform_run(
        user_env(PLATFORM_HOME=str(tmp_path / "home"), PLATFORM_DEMO_DEFECT_RATE="0.05")
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout[proc.stdout.index("asset ") :]
    for asset in ASSETS:
        line = next(row for row in summary.splitlines() if row.startswith(asset + " "))
        assert "materialized" in line and line.split()[-1] == "0", line  # no failed checks
    orders = next(row for row in summary.splitlines() if row.startswith("orders "))
    assert orders.split()[2:4] == ["190", "10"]  # 200 orders, 5% defective, quarantined
    assert "http://127.0.0.1:3000" in proc.stdout
    assert "events: no broker configured (PLATFORM_RABBITMQ_URL unset), skipped" in proc.stdout
    # No broker on a fresh machine: the events asset builds empty, and the summary says why.
    no_broker = "(no broker configured: PLATFORM_RABBITMQ_URL is not set)"
    assert f"\nshipment_events: 0 landed event(s) {no_broker}\n" in proc.stdout
    home = tmp_path / "home"
    assert (home / "dagster_home" / "dagster.yaml").read_text() == EMBEDDED_INSTANCE
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "raw"."orders"').fetchone() == (190,)
        assert con.execute('SELECT count(*) FROM "platform"."quarantine"').fetchone()[0] >= 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _graphql(port: int, query: str) -> dict:
    response = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


LAUNCH_RUN = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}
"""
# A hang guard, not a timing: the launched run goes ahead of what `platform dev` starts by
# itself on a fresh home, but its 13 steps share one warehouse slot with those runs' steps.
RUN_TIMEOUT_S = 600


def _launch_daily_run(port: int, partition: str) -> str:
    """Launch daily_job for a partition as the UI's Materialize button does."""
    nodes = "nodes { name location { name } }"
    repos = _graphql(
        port, f"{{ repositoriesOrError {{ ... on RepositoryConnection {{ {nodes} }} }} }}"
    )
    repos = repos["repositoriesOrError"]["nodes"]
    assert len(repos) == 1, repos
    selector = {
        "repositoryLocationName": repos[0]["location"]["name"],
        "repositoryName": repos[0]["name"],
        "jobName": "daily_job",
    }
    params = {
        "selector": selector,
        "runConfigData": {},
        "executionMetadata": {
            "tags": [
                {"key": "dagster/partition", "value": partition},
                # Ahead of the backlog the sensors started (a run per drop file of the last
                # week, then staging): dequeued and given the warehouse slot first.
                {"key": "dagster/priority", "value": "10"},
            ]
        },
    }
    response = requests.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": LAUNCH_RUN, "variables": {"params": params}},
        timeout=30,
    )
    response.raise_for_status()
    launched = response.json()["data"]["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _run(port: int, run_id: str, fields: str) -> dict:
    query = f'{{ runOrError(runId: "{run_id}") {{ ... on Run {{ {fields} }} }} }}'
    return _graphql(port, query)["runOrError"]


def _wait_for_run(port: int, run_id: str) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        status = _run(port, run_id, "status")["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in {RUN_TIMEOUT_S} s (last: {status})")


# A run of 13 step processes (multiprocess executor, one warehouse slot) beside the week of
# event and drop runs a fresh home queues: about 60 s here; a loaded machine may outlast the
# suite's default 300 s guard (a hang guard, not a timing).
@pytest.mark.timeout(900)
@pytest.mark.xdist_group(PLATFORM_DEV_GROUP)
def test_platform_dev_serves_the_lineage_runs_a_launched_run_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    """The UI path end to end: queued run coordinator, daemon, a run worker with the
    multiprocess executor (a process per step) on the embedded DuckDB warehouse, whose
    single writer the ``warehouse`` pool (limit 1) serializes; then nothing survives."""
    ui_port, api_port = _free_port(), _free_port()
    env = user_env()
    env.update(
        PLATFORM_HOME=str(tmp_path / "home"),
        PLATFORM_UI_PORT=str(ui_port),
        PLATFORM_DEV_API_PORT=str(api_port),
    )
    # As some shells do: the launcher starts with SIGINT ignored.
    proc = subprocess.Popen(
        [str(PLATFORM), "dev"],
        cwd=REPO,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "platform dev exited early"
            try:
                nodes = _graphql(
                    ui_port, "{ assetNodes { assetKey { path } dependencyKeys { path } } }"
                )
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "the UI did not come up"
                time.sleep(1)
        lineage = {
            n["assetKey"]["path"][0]: sorted(d["path"][0] for d in n["dependencyKeys"])
            for n in nodes["assetNodes"]
        }
        assert sorted(lineage) == sorted(ASSETS)
        assert lineage["daily_revenue_by_country"] == [
            "stg_customers",
            "stg_orders",
            "stg_payments",
        ]
        assert requests.get(f"http://127.0.0.1:{api_port}/health", timeout=5).ok
        day = latest_complete_day().isoformat()
        run_id = _launch_daily_run(ui_port, day)
        assert _wait_for_run(ui_port, run_id) == "SUCCESS"
        steps = _run(ui_port, run_id, "stepStats { stepKey status }")["stepStats"]
        assert {s["stepKey"]: s["status"] for s in steps} == dict.fromkeys(ASSETS, "SUCCESS")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    # Everything it started is gone: the UI's process group and the demo API.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        api_down = False
        try:
            requests.get(f"http://127.0.0.1:{api_port}/health", timeout=1)
        except requests.ConnectionError:
            api_down = True
        if (
            api_down
            and not subprocess.run(
                ["pgrep", "-f", f"(-p|--port) {ui_port} "], capture_output=True
            ).stdout
        ):
            break
        time.sleep(1)
    else:
        raise AssertionError("processes of platform dev outlived it")
    assert not _group_alive(proc.pid)
    # Run workers and their step processes included (their command lines name the home).
    leftover = subprocess.run(["pgrep", "-af", str(tmp_path)], capture_output=True, text=True)
    assert not leftover.stdout, leftover.stdout
