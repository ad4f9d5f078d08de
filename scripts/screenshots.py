"""Screenshots for the README, taken by headless Chromium (Playwright) against ``platform dev``.

1. Seeds a fresh home (``.platform/screenshots``) and materializes every asset for two days
   in-process: a clean day, then the next day with two of its five marketing-spend rows
   spoiled (negative spend), so ``marketing_spend``'s quarantine and volume gates fail and
   ``stg_marketing_spend``/``marketing_roas`` are not executed. Then ``stg_marketing_spend``
   alone for the failed day: the gate blocks this later run too. The days are older than
   the drop sensor's look-back, so what the daemon starts never touches them.
2. Starts ``platform dev`` on free ports (PLATFORM_UI_PORT, PLATFORM_DEV_API_PORT) and
   waits until the runs the daemon starts by itself (recent drops) are done.
3. Saves docs/screenshots/:
   - lineage.png: upstream lineage of a mart;
   - partitioned_asset_checks.png: a check's status per partition, the clean day picked
     (green) while the failed day is red;
   - failed_gate.png: the failed day's run, its gate failed, downstream not executed;
   - gate_blocks_later_run.png: a later run of the downstream alone, refused by the gate;
   - column_lineage.png: a mart's columns, each naming its upstream columns.

Usage: ``.venv/bin/python scripts/screenshots.py`` (needs ``apt-get install -y chromium``;
``PLATFORM_CHROMIUM`` names another binary). Every child process is stopped on exit
(process groups: SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from platform_assets.processes import default_signals, stop_group
from platform_assets_tests.chromium import CHROMIUM_ARGS, MISSING, chromium_executable

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
HOME = REPO / ".platform" / "screenshots"
SHOT_ARGS = [*CHROMIUM_ARGS, "--hide-scrollbars"]
VIEWPORT = {"width": 1600, "height": 1000}
DAYS_BACK = 10  # older than the drop sensor's look-back (7 days): the daemon leaves them be
SETTLE_TIMEOUT_S = 1800  # 8 runs of recent drops; a busy 2-core machine took > 900 s
UI_TIMEOUT_S = 300
GATED = "marketing_spend"  # its failed day's gate
CHECK = "quarantine_rate"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium() -> str:
    found = chromium_executable()
    if found is None:
        raise SystemExit(MISSING)
    return found


def spoil_drop(landing: Path, day: date) -> None:
    """Two of the day's five rows get a negative spend: quarantined (40%, max 20%), and
    three rows left (min 5): the day's quarantine and volume gates fail."""
    from platform_assets.demo.drops import drop_path

    path = drop_path(landing, day)
    header, *rows = (line.split(",") for line in path.read_text().splitlines())
    spend = header.index("spend_usd")
    for row in rows[:2]:
        row[spend] = f"-{row[spend]}"
    path.write_text("\n".join(",".join(line) for line in (header, *rows)) + "\n")


def materialize_demo_days(env: dict[str, str]) -> dict[str, Any]:
    """A clean day, the next day with a failed gate, then a later run blocked by it."""
    os.environ.update(env)  # the definitions read their configuration from the environment
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.demo.config import DemoConfig, demo_landing_dir
    from platform_assets.demo.launch import latest_complete_day, prepare_demo_sources
    from platform_assets.demo.process import DemoApi

    cfg = DemoConfig.from_env(env)
    latest = latest_complete_day()
    prepare_demo_sources(env, cfg, latest)
    clean, failed = latest - timedelta(days=DAYS_BACK), latest - timedelta(days=DAYS_BACK - 1)
    spoil_drop(Path(demo_landing_dir(env)), failed)
    runs: dict[str, Any] = {"clean": clean.isoformat(), "failed": failed.isoformat()}
    with DemoApi(cfg, env["PLATFORM_API_TOKEN"]) as api:
        os.environ["PLATFORM_API_URL"] = api.url
        job = build_definitions().resolve_job_def("daily_job")
        with dg.DagsterInstance.get() as instance:
            for name, day, selection in (
                ("clean_run", clean, None),
                ("failed_run", failed, None),
                ("blocked_run", failed, [dg.AssetKey(f"stg_{GATED}")]),
            ):
                result = job.execute_in_process(
                    partition_key=day.isoformat(),
                    instance=instance,
                    asset_selection=selection,
                    raise_on_error=False,
                )
                runs[name] = result.run_id
                print(f"{day} {name}: {result.run_id} {'SUCCESS' if result.success else 'FAILURE'}")
    return runs


def wait_for_ui(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + UI_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"platform dev exited early ({proc.returncode})")
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise SystemExit(f"the UI did not come up in {UI_TIMEOUT_S} s")


def wait_until_settled(known_runs: int, quiet_s: float = 30) -> None:
    """Until the runs the daemon starts by itself (recent drops) are all finished: no run
    queued or in progress for ``quiet_s``, after at least one such run was launched."""
    import dagster as dg

    busy = [
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
        dg.DagsterRunStatus.STARTED,
    ]
    deadline, quiet_since = time.monotonic() + SETTLE_TIMEOUT_S, None
    with dg.DagsterInstance.get() as instance:
        while time.monotonic() < deadline:
            launched = instance.get_runs_count() > known_runs
            running = instance.get_runs_count(dg.RunsFilter(statuses=busy))
            if launched and not running:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= quiet_s:
                    return
            else:
                quiet_since = None
            time.sleep(5)
    raise SystemExit(f"the daemon's runs were not done within {SETTLE_TIMEOUT_S} s")


def shoot(page: Any, target: Path, what: str) -> None:
    page.wait_for_timeout(1500)  # let charts and icons finish drawing
    page.screenshot(path=str(target))
    print(f"saved {target.relative_to(REPO)}: {what}")


def screenshots(base: str, runs: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=SHOT_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(120_000)
            lineage = "view=lineage&lineageScope=upstream&lineageDepth=2"
            page.goto(f"{base}/assets/daily_revenue_by_country?{lineage}")
            page.get_by_text("stg_orders").first.wait_for()
            page.get_by_text("Loading…").first.wait_for(state="detached")  # every node's status
            shoot(page, OUT / "lineage.png", "upstream lineage of a mart")

            page.goto(f"{base}/assets/{GATED}?view=checks&checkDetail={CHECK}")
            page.locator("button[role=tab]#partitions").click()
            page.get_by_text(runs["clean"], exact=True).first.click()
            page.get_by_text("0 of 5 rows quarantined", exact=False).wait_for()
            shoot(page, OUT / "partitioned_asset_checks.png", "a check's status per partition")

            page.goto(f"{base}/runs/{runs['failed_run']}")
            page.get_by_text("DagsterAssetCheckFailedError").first.wait_for()
            shoot(page, OUT / "failed_gate.png", "a failed gate, downstream not executed")

            page.goto(f"{base}/runs/{runs['blocked_run']}")
            page.get_by_text("Upstream gate failed").first.wait_for()
            shoot(page, OUT / "gate_blocks_later_run.png", "a later run refused by the gate")

            page.goto(f"{base}/assets/daily_revenue_by_country")
            columns = page.get_by_text("Column name", exact=True).first
            columns.wait_for()
            page.get_by_text(" From stg_orders.", exact=False).first.wait_for()  # lineage named
            columns.scroll_into_view_if_needed()
            page.mouse.wheel(0, -120)  # keep the section's title in view
            shoot(page, OUT / "column_lineage.png", "a mart's columns and their upstream columns")
        finally:
            browser.close()


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    env["PLATFORM_HOME"] = str(HOME)
    env["PLATFORM_DEMO_DEFECT_RATE"] = "0.01"
    from platform_assets.home import prepare_environment

    prepare_environment(env)
    env["PLATFORM_API_TOKEN"] = secrets.token_urlsafe(24)  # the demo API, this launch only
    runs = materialize_demo_days(env)
    ui_port, api_port = free_port(), free_port()
    dev_env = {**env, "PLATFORM_UI_PORT": str(ui_port), "PLATFORM_DEV_API_PORT": str(api_port)}
    platform = Path(sys.executable).with_name("platform")
    proc = subprocess.Popen(
        [str(platform), "dev"],
        cwd=REPO,
        env=dev_env,
        start_new_session=True,
        preexec_fn=default_signals,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_ui(ui_port, proc)
        wait_until_settled(known_runs=3)
        OUT.mkdir(parents=True, exist_ok=True)
        screenshots(f"http://127.0.0.1:{ui_port}", runs)
    finally:
        stop_group(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
