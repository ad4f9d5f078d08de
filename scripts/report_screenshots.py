"""Screenshots of the quality report for the README, taken by headless Chromium.

1. Seeds a fresh home (``.platform/report-screenshots``) with the demo sources (2% defective
   rows) and plants a failing gate: two of the five marketing rows of one day have a
   negative spend (40% quarantined against a 20% threshold; 3 rows under min_rows 5).
2. Materializes the last ``--days`` days in-process (the daily job; the report asset runs
   in the last one) and rebuilds the report.
3. Opens it from disk and saves docs/screenshots/report_{overview,table}.png.

Usage: ``.venv/bin/python scripts/report_screenshots.py [--days 8]`` (needs Chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
from datetime import timedelta
from pathlib import Path

from screenshots import SHOT_ARGS, chromium  # scripts/ is on the path when run as a script

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screenshots"
HOME = REPO / ".platform" / "report-screenshots"


def plant_failing_gate(landing: Path, day: object) -> None:
    from platform_assets.demo.drops import drop_path

    path = drop_path(landing, day)  # type: ignore[arg-type]
    header, *rows = path.read_text().splitlines()
    spend = header.split(",").index("spend_usd")
    for i in (0, 1):
        cells = rows[i].split(",")
        cells[spend] = "-12.50"
        rows[i] = ",".join(cells)
    path.write_text("\n".join([header, *rows]) + "\n")


def materialize(env: dict[str, str], days: int) -> Path:
    os.environ.update(env)  # the definitions read their configuration from the environment
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.demo.config import DemoConfig, demo_landing_dir
    from platform_assets.demo.launch import latest_complete_day, prepare_demo_sources
    from platform_assets.demo.process import DemoApi
    from platform_assets.report.asset import REPORT_ASSET, report_folder

    cfg = DemoConfig.from_env(env)
    last = latest_complete_day()
    prepare_demo_sources(env, cfg, last)
    plant_failing_gate(Path(demo_landing_dir(env)), last - timedelta(days=2))
    with DemoApi(cfg, env["PLATFORM_API_TOKEN"]) as api:
        os.environ["PLATFORM_API_URL"] = api.url
        job = build_definitions().resolve_job_def("daily_job")
        tables = [k for k in job.asset_layer.executable_asset_keys if k.path != [REPORT_ASSET]]
        with dg.DagsterInstance.get() as instance:
            for offset in range(days - 1, -1, -1):
                day = last - timedelta(days=offset)
                result = job.execute_in_process(
                    partition_key=day.isoformat(),
                    instance=instance,
                    raise_on_error=False,
                    asset_selection=None if offset == 0 else tables,
                )
                print(f"{day}: run {result.run_id} {'SUCCESS' if result.success else 'FAILURE'}")
            report = build_definitions().resolve_job_def("quality_report_job")
            report.execute_in_process(instance=instance)  # after the last day, whatever it did
    return report_folder(env)


def shoot(folder: Path, table: str) -> None:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=SHOT_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto((folder / "index.html").as_uri())
        page.screenshot(path=str(OUT / "report_overview.png"))
        page.goto((folder / "tables" / f"{table}.html").as_uri())
        page.set_viewport_size({"width": 1280, "height": 1500})
        page.screenshot(path=str(OUT / "report_table.png"))
        browser.close()
    print(f"saved {OUT / 'report_overview.png'} and {OUT / 'report_table.png'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--table", default="marketing_spend")
    args = parser.parse_args()
    shutil.rmtree(HOME, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    env |= {"PLATFORM_HOME": str(HOME), "PLATFORM_DEMO_DEFECT_RATE": "0.02",
            "PLATFORM_API_TOKEN": "screenshot-token"}  # fmt: skip
    from platform_assets.home import prepare_environment

    prepare_environment(env)
    shoot(materialize(env, args.days), args.table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
