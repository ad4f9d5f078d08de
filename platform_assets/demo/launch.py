"""``make run`` and ``make dev``: the platform on the embedded default, with demo sources.

``run`` materializes every asset for the latest complete day in-process and prints a
per-asset summary; ``dev`` serves the Dagster UI and daemon with schedules and sensors
running. Both start the demo API as a child process with a fresh random token and stop it
after. ``dev`` also writes ``$PLATFORM_HOME/dev.env`` (mode 600, removed when it stops): the
variables a `dagster` command in another terminal needs to run beside the UI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, MutableMapping
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
from platform_assets.events.broker import (
    LOCAL_BROKER_URL,
    broker_answers,
    broker_url,
    events_queues,
    shown,
)
from platform_assets.events.consumer import BrokerUnavailable, Consumer, Settings, consumer_log
from platform_assets.home import DagsterHomeMissing, platform_home, prepare_environment
from platform_assets.processes import child_preexec, stop_group
from platform_assets.redaction import redact_known, without_password
from platform_assets.warehouse.faults import (
    InvalidSettingError,
    PermanentDatabaseError,
    database_faults,
    url_password,
)

DEV_UI_PORT = "3000"
DEV_API_PORT = "8765"
DEMO_DEFECT_RATE = "0.01"  # make run and make dev show the quarantine at work unless told
CLI_ENV_FILE = "dev.env"
# What a `dagster` command beside the UI needs to reach the same instance and demo sources.
CLI_VARIABLES = (
    "DAGSTER_HOME",
    "PLATFORM_HOME",
    "PLATFORM_API_URL",
    "PLATFORM_API_TOKEN",
    "PLATFORM_UI_URL",
)


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
    from platform_assets.automation.instance import open_instance
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
    events = land_queued_events(env)
    with DemoApi(cfg, env["PLATFORM_API_TOKEN"]) as api:
        env["PLATFORM_API_URL"] = api.url
        defs = build_definitions()
        preflight(defs)  # a database URL that can never work stops us before the run
        job = defs.resolve_job_def("daily_job")
        with open_instance() as instance:
            ensure_pool_limits(instance, job_pools(job))  # before two first runs race for it
            try:
                result = execute_supervised(job, instance, day.isoformat())
            except RunInterrupted as exc:
                print(f"\nplatform run: {exc}", file=sys.stderr)
                return 130
    keys = defs.resolve_asset_graph().toposorted_asset_keys
    warehouse = without_password(env.get("PLATFORM_WAREHOUSE_URL", "DuckDB"))
    rows = summarize(result, keys)
    streams = "".join(f"\n{line}" for line in event_lines(rows, event_streams(defs)))
    streams += "\n" if streams else ""
    summary = (
        f"\nplatform_assets: partition {day} on {warehouse}\n"
        f"{format_summary(rows)}\n{streams}"
        f"{events}\n"
        f"\nrun {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}\n"
        f"Open the UI with `make dev`, then {ui_url(env)}"
    )
    print(redact_known(summary, env))  # nothing secret reaches a terminal or a CI log
    return 0 if result.success else 1


def land_queued_events(env: dict[str, str]) -> str:
    """make run: drain each event queue into its landing table once, before the run; a line
    for the summary. No broker configured (the embedded default): nothing to land, said so."""
    url = broker_url(env)
    if url is None:
        return "events: no broker configured (PLATFORM_RABBITMQ_URL unset), skipped"
    from platform_assets.home import embedded_warehouse_url

    lines = []
    for queue in events_queues(env):
        settings = Settings(
            broker_url=url,
            warehouse_url=env.get("PLATFORM_WAREHOUSE_URL") or embedded_warehouse_url(env),
            queue=queue,
            stream=queue,
            drain=True,
            max_reconnects=3,  # a configured broker that is down fails the run, loudly
        )
        consumer = Consumer(settings, consumer_log(settings.stream, settings.queue))
        consumer.run()
        t = consumer.totals
        lines.append(
            f"events: {t.landed} landed, {t.duplicates} duplicates, {t.quarantined} quarantined "
            f"from queue {queue} on {shown(url)} into landing.{queue}"
        )
    return "\n".join(lines) or "events: no event stream declared in defs/"


def dev_broker(env: dict[str, str]) -> str | None:
    """make dev's broker: PLATFORM_RABBITMQ_URL, else RabbitMQ on 127.0.0.1:5672 if it answers."""
    if url := broker_url(env):
        return url
    return LOCAL_BROKER_URL if broker_answers() else None


def start_consumers(env: dict[str, str]) -> list[subprocess.Popen]:
    """make dev: an event consumer per stream as child processes, when there is a broker."""
    url = dev_broker(env)
    if url is None:
        print("events: no broker (PLATFORM_RABBITMQ_URL unset, none on 127.0.0.1:5672); "
              "consumer not started")  # fmt: skip
        return []
    env["PLATFORM_RABBITMQ_URL"] = url
    consumers = []
    for queue in events_queues(env):
        consumers.append(
            subprocess.Popen(
                [sys.executable, "-m", "platform_assets.events.consumer", "--queue", queue],
                env=env,
                start_new_session=True,
                preexec_fn=child_preexec(signal.SIGTERM),  # lands its batch, then exits
            )
        )
        print(f"events: consumer of {queue} started on {shown(url)} (platform-demo publish)")
    return consumers


def ui_url(env: Mapping[str, str]) -> str:
    """Where the UI of `make dev` is reached: PLATFORM_UI_URL, else its port on localhost."""
    return env.get("PLATFORM_UI_URL") or (
        f"http://127.0.0.1:{env.get('PLATFORM_UI_PORT', DEV_UI_PORT)}"
    )


def dev_environment(env: MutableMapping[str, str]) -> None:
    """The environment of `make dev` and of everything it starts (the UI, the daemon, runs):
    the embedded defaults, a fresh demo API token, the demo's defect rate (the quarantine at
    work, as under `make run`) and the UI's own URL for the links in alerts."""
    prepare_environment(env)
    env.setdefault("PLATFORM_API_TOKEN", secrets.token_urlsafe(24))
    env.setdefault("PLATFORM_DEMO_DEFECT_RATE", DEMO_DEFECT_RATE)
    env["PLATFORM_UI_URL"] = ui_url(env)


@contextlib.contextmanager
def cli_env_file(env: Mapping[str, str]) -> Iterator[Path]:
    """``$PLATFORM_HOME/dev.env``, readable by its owner only (it holds the API token):
    ``. .platform/dev.env`` gives a `dagster` command in another terminal the same instance
    and demo sources as the UI. Removed on exit: the token dies with the demo API."""
    path = platform_home(env) / CLI_ENV_FILE
    lines = [f"export {name}={shlex.quote(env[name])}" for name in CLI_VARIABLES if name in env]
    path.unlink(missing_ok=True)  # a file left by a killed launcher may have another mode
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write("# make dev: source me beside the UI (. " + str(path) + ")\n")
        handle.write("\n".join(lines) + "\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def start_ui(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`dagster dev` (webserver and daemon) in its own process group."""
    dagster = Path(sys.executable).with_name("dagster")
    port = env.get("PLATFORM_UI_PORT", DEV_UI_PORT)
    return subprocess.Popen(
        [str(dagster), "dev", "-h", "127.0.0.1", "-p", port, "-w", "workspace.yaml"],
        env=env,
        start_new_session=True,
        # Shells may start us with SIGINT/SIGTERM ignored; if we are killed, SIGTERM
        # lets dagster dev stop its webserver and daemon before it exits.
        preexec_fn=child_preexec(signal.SIGTERM),
    )


def dev(env: dict[str, str]) -> int:
    from platform_assets.automation.instance import open_instance

    dev_environment(env)
    cfg = DemoConfig.from_env(env)
    prepare_demo_sources(env, cfg, latest_complete_day())
    # A SIGTERM to the launcher must still stop the UI and the demo API (finally blocks).
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    api_port = int(env.get("PLATFORM_DEV_API_PORT", DEV_API_PORT))
    with contextlib.ExitStack() as children:  # each child started here is stopped on exit
        api = children.enter_context(DemoApi(cfg, env["PLATFORM_API_TOKEN"], port=api_port))
        env["PLATFORM_API_URL"] = api.url
        cli_env = children.enter_context(cli_env_file(env))
        for consumer in start_consumers(env):  # first: the UI's processes see the broker
            children.callback(stop_group, consumer)
        with open_instance():  # a fresh instance's storage is created here, once: the UI's
            pass  # webserver and daemon would otherwise race to create it (automation/instance.py)
        ui = start_ui(env)
        children.callback(stop_group, ui)
        print(
            f"Dagster UI: {env['PLATFORM_UI_URL']} (demo API at {api.url}); Ctrl-C stops all\n"
            f"Beside the UI, in another terminal: . {cli_env} && .venv/bin/dagster asset "
            "materialize --select orders --partition <day> -m platform_assets.definitions"
        )
        try:
            return ui.wait()
        except KeyboardInterrupt:
            return 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="platform", description=__doc__)
    parser.add_argument("command", choices=["run", "dev"])
    args = parser.parse_args(argv)
    try:
        return {"run": run, "dev": dev}[args.command](os.environ)  # type: ignore[arg-type]
    except (  # these name what is wrong and never a secret
        DagsterHomeMissing,
        PermanentDatabaseError,
        InvalidSettingError,
        BrokerUnavailable,
    ) as exc:
        print(f"platform {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"platform {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
