"""Screenshots for the README, taken by headless Chromium against ``platform dev``.

1. Seeds a fresh home (``.platform/screenshots``) and materializes two days in-process:
   yesterday clean, the day before with the demo API repeating rows across pages (duplicate
   order ids: the ``orders`` gate fails and blocks everything downstream of it).
2. Starts ``platform dev`` on free ports (PLATFORM_UI_PORT, PLATFORM_DEV_API_PORT).
3. Saves docs/screenshots/{lineage,partitioned_asset_checks,failed_gate}.png.

Usage: ``.venv/bin/python scripts/screenshots.py`` (needs ``apt-get install -y chromium``).
Every child process is stopped on exit (process groups: SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import requests

from platform_assets.processes import default_signals, stop_group

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
HOME = REPO / ".platform" / "screenshots"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    raise SystemExit("chromium not found: apt-get install -y chromium")


def materialize_demo_days(env: dict[str, str]) -> dict[str, str]:
    """Yesterday clean, the day before with a failed gate; returns {day: run_id}."""
    os.environ.update(env)  # the definitions read their configuration from the environment
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.demo.config import DemoConfig
    from platform_assets.demo.launch import latest_complete_day, prepare_demo_sources
    from platform_assets.demo.process import DemoApi

    cfg = DemoConfig.from_env(env)
    day = latest_complete_day()
    prepare_demo_sources(env, cfg, day)
    runs = {}
    for when, overlap in ((day - timedelta(days=1), True), (day, False)):
        os.environ["PLATFORM_API_PAGE_SIZE"] = "50" if overlap else "1000"
        with DemoApi(cfg, env["PLATFORM_API_TOKEN"], overlap_pages=overlap) as api:
            os.environ["PLATFORM_API_URL"] = api.url
            job = build_definitions().resolve_job_def("daily_job")
            with dg.DagsterInstance.get() as instance:
                result = job.execute_in_process(
                    partition_key=when.isoformat(), instance=instance, raise_on_error=False
                )
        runs[when.isoformat()] = result.run_id
        print(f"{when}: run {result.run_id} {'SUCCESS' if result.success else 'FAILURE'}")
    return runs


def wait_for_ui(port: int, proc: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("platform dev exited early")
        try:
            if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(1)
    raise SystemExit("the UI did not come up")


def shoot(url: str, target: Path, wait_ms: int = 25000) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={wait_ms}",
                f"--screenshot={target}",
                url,
            ],
            check=True,
            timeout=120,
            capture_output=True,
        )
    print(f"saved {target.relative_to(REPO)} ({url})")


def main() -> int:
    shutil.rmtree(HOME, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    env["PLATFORM_HOME"] = str(HOME)
    env["PLATFORM_DEMO_DEFECT_RATE"] = "0.01"
    from platform_assets.home import prepare_environment

    prepare_environment(env)
    runs = materialize_demo_days(env)
    failed_run = runs[min(runs)]
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
        base = f"http://127.0.0.1:{ui_port}"
        OUT.mkdir(parents=True, exist_ok=True)
        lineage = "view=lineage&lineageScope=upstream&lineageDepth=2"
        shoot(f"{base}/assets/daily_revenue_by_country?{lineage}", OUT / "lineage.png")
        shoot(f"{base}/assets/orders?view=checks", OUT / "partitioned_asset_checks.png")
        shoot(f"{base}/runs/{failed_run}", OUT / "failed_gate.png")
    finally:
        stop_group(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
