"""``make run`` and ``make dev``: the platform on the embedded default, with demo sources.

``run`` materializes every asset for the latest complete day in-process and prints a
per-asset summary; ``dev`` serves the Dagster UI and daemon with schedules running.
Both start the demo API as a child process with a fresh random token and stop it after.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from platform_assets.automation.partitions import PARTITIONS_START
from platform_assets.demo.config import (
    CUSTOMER_LOOKBACK_DAYS,
    DemoConfig,
    demo_landing_dir,
    demo_source_db_url,
)
from platform_assets.demo.drops import write_drops
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import seed_database
from platform_assets.home import DagsterHomeMissing, prepare_environment
from platform_assets.processes import child_preexec, stop_group
from platform_assets.redaction import redact_known, without_password
from platform_assets.warehouse.faults import (
    PermanentDatabaseError,
    database_faults,
    url_password,
)

DEV_UI_PORT = "3000"
DEV_API_PORT = "8765"
DEMO_DEFECT_RATE = "0.01"  # make run shows the quarantine at work unless told otherwise


def latest_complete_day() -> date:
    return datetime.now(UTC).date() - timedelta(days=1)


def prepare_demo_sources(env: dict[str, str], cfg: DemoConfig, last_day: date) -> None:
    """Seed the source database and the landing directory for every partition so far."""
    first_day = date.fromisoformat(PARTITIONS_START)
    url = demo_source_db_url(env)
    with database_faults("PLATFORM_SOURCE_DB_URL", (url, url_password(url))):
        seed_database(url, cfg, first_day - timedelta(days=CUSTOMER_LOOKBACK_DAYS), last_day)
    write_drops(Path(demo_landing_dir(env)), cfg, first_day, last_day)


def run(env: dict[str, str]) -> int:
    import dagster as dg

    from platform_assets.automation.pools import ensure_pool_limits, job_pools
    from platform_assets.automation.supervised_run import RunInterrupted, execute_supervised
    from platform_assets.definitions import build_definitions, preflight
    from platform_assets.observability.summary import (
        event_lines,
        event_streams,
        format_summary,
        summarize,
    )

    # A SIGTERM stops the run like Ctrl-C: canceled, slots freed, the demo API stopped.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    env.setdefault("PLATFORM_DEMO_DEFECT_RATE", DEMO_DEFECT_RATE)
    prepare_environment(env)
    env.setdefault("PLATFORM_API_TOKEN", secrets.token_urlsafe(24))
    cfg = DemoConfig.from_env(env)
    day = latest_complete_day()
    prepare_demo_sources(env, cfg, day)
    with DemoApi(cfg, env["PLATFORM_API_TOKEN"]) as api:
        env["PLATFORM_API_URL"] = api.url
        defs = build_definitions()
        preflight(defs)  # a database URL that can never work stops us before the run
        job = defs.resolve_job_def("daily_job")
        with dg.DagsterInstance.get() as instance:
            ensure_pool_limits(instance, job_pools(job))  # before two first runs race for it
            try:
                result = execute_supervised(job, instance, day.isoformat())
            except RunInterrupted as exc:
                print(f"\nplatform run: {exc}", file=sys.stderr)
                return 130
    keys = defs.resolve_asset_graph().toposorted_asset_keys
    warehouse = without_password(env.get("PLATFORM_WAREHOUSE_URL", "DuckDB"))
    rows = summarize(result, keys)
    events = "".join(f"\n{line}" for line in event_lines(rows, event_streams(defs)))
    events += "\n" if events else ""
    summary = (
        f"\nplatform_assets: partition {day} on {warehouse}\n"
        f"{format_summary(rows)}\n{events}"
        f"\nrun {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}\n"
        "Open the UI with `make dev`, then http://127.0.0.1:3000"
    )
    print(redact_known(summary, env))  # nothing secret reaches a terminal or a CI log
    return 0 if result.success else 1


def dev(env: dict[str, str]) -> int:
    prepare_environment(env)
    env.setdefault("PLATFORM_API_TOKEN", secrets.token_urlsafe(24))
    cfg = DemoConfig.from_env(env)
    prepare_demo_sources(env, cfg, latest_complete_day())
    # A SIGTERM to the launcher must still stop the UI and the demo API (finally blocks).
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    ui_port = env.get("PLATFORM_UI_PORT", DEV_UI_PORT)
    api_port = int(env.get("PLATFORM_DEV_API_PORT", DEV_API_PORT))
    with DemoApi(cfg, env["PLATFORM_API_TOKEN"], port=api_port) as api:
        env["PLATFORM_API_URL"] = api.url
        dagster = Path(sys.executable).with_name("dagster")
        ui = subprocess.Popen(
            [str(dagster), "dev", "-h", "127.0.0.1", "-p", ui_port, "-w", "workspace.yaml"],
            env=env,
            start_new_session=True,
            # Shells may start us with SIGINT/SIGTERM ignored; if we are killed, SIGTERM
            # lets dagster dev stop its webserver and daemon before it exits.
            preexec_fn=child_preexec(signal.SIGTERM),
        )
        print(f"Dagster UI: http://127.0.0.1:{ui_port} (demo API at {api.url}); Ctrl-C stops both")
        try:
            return ui.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            stop_group(ui)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform", description=__doc__)
    parser.add_argument("command", choices=["run", "dev"])
    args = parser.parse_args(argv)
    try:
        return {"run": run, "dev": dev}[args.command](os.environ)  # type: ignore[arg-type]
    except (DagsterHomeMissing, PermanentDatabaseError) as exc:  # never a URL, only names
        print(f"platform {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"platform {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
