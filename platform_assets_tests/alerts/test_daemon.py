"""End to end once: ``dagster-daemon run`` on the real code location raises a gate alert
from a failed run in its instance and delivers it to a webhook exactly once; then a run
launched from the CLI (`dagster asset materialize`, which Dagster's run status sensors
ignore unless told otherwise) fails, and its alert arrives too, linking to the UI's port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.demo.launch import dev_environment
from platform_assets.processes import default_signals, stop_group
from platform_assets_tests.alerts.receivers import HttpReceiver
from platform_assets_tests.alerts.test_run_alerts import DAY, materialize

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 90.0  # a wait for an event, not a timing assertion: the daemon ticks every 30 s
ALERT_KEY = f"check:orders:{DAY}:primary_key_unique_not_null"
CLI_ALERT_KEY = f"run_failure:__ASSET_JOB:{DAY}"
SENSOR_STARTED = "Sensor run_failure_alert_sensor skipped"  # its first tick sets its cursor


@pytest.mark.timeout(300)
def test_daemon_delivers_one_gate_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
    receiver = HttpReceiver().start()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PLATFORM_HOME": str(tmp_path / "platform"),
        "PLATFORM_ALERT_STATE_URL": f"sqlite:///{tmp_path / 'alerts.sqlite'}",
        "PLATFORM_ALERT_WEBHOOK_URL": f"{receiver.url}/hook?token=daemon-secret-41c7",
        "PLATFORM_ALERT_ROUTES": json.dumps({"team:commerce": "commerce"}),
    }
    for name in ("PLATFORM_ALERT_SLACK_WEBHOOK_URL", "PLATFORM_ALERT_SMTP_HOST", "PLATFORM_UI_URL"):
        env.pop(name, None)
    env["PLATFORM_UI_PORT"] = "4400"
    dev_environment(env)  # as `make dev` prepares the daemon's environment
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.get() as instance:
        run_id = materialize(instance, keys_unique=False, volume_normal=True)

    daemon = Path(sys.executable).with_name("dagster-daemon")
    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [str(daemon), "run", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=default_signals,  # shells may start us with SIGTERM ignored
    )
    try:
        # Dagster's run status sensors start from the runs that end after their first tick.
        _wait(proc, tmp_path, lambda: SENSOR_STARTED in (tmp_path / "daemon.log").read_text())
        cli_run = _fail_from_the_cli(env, tmp_path)
        _wait(proc, tmp_path, lambda: _gate_alerts(receiver))
        _wait(proc, tmp_path, lambda: _alerts(receiver, CLI_ALERT_KEY))
    finally:
        stop_group(proc)
        receiver.stop()
        log.close()
    output = (tmp_path / "daemon.log").read_text()
    [alert] = _gate_alerts(receiver)  # one, though the sensors ticked more than once
    assert (alert["severity"], alert["route"], alert["run_id"]) == ("critical", "commerce", run_id)
    assert alert["link"] == f"http://127.0.0.1:4400/runs/{run_id}"  # the UI's real port
    [failed] = _alerts(receiver, CLI_ALERT_KEY)
    assert (failed["kind"], failed["severity"], failed["run_id"]) == (
        "run_failure",
        "critical",
        cli_run,
    )
    assert failed["title"] == f"Run of __ASSET_JOB[{DAY}] failed"
    assert "unterminated quoted field" in failed["text"]
    assert failed["link"] == f"http://127.0.0.1:4400/runs/{cli_run}"
    assert "daemon-secret-41c7" not in output


def _wait(proc: subprocess.Popen, tmp_path: Path, done: Callable[[], object]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and not done():
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        time.sleep(0.5)


def _fail_from_the_cli(env: dict[str, str], tmp_path: Path) -> str:
    """`dagster asset materialize` of a drop whose file is malformed: the run fails at once
    (no retry can fix a file). Returns the run's id."""
    landing = tmp_path / "landing"
    drop = landing / "marketing_spend" / f"marketing_spend_{DAY}.csv"
    drop.parent.mkdir(parents=True)
    drop.write_text('date,channel,spend_usd,impressions,clicks\n2026-03-10,"email,1.0,10,1\n')
    cli_env = {**env, "PLATFORM_LANDING_DIR": str(landing), "PLATFORM_EXECUTOR": "in_process"}
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "asset", "materialize", "--select", "marketing_spend"]
    command += ["--partition", DAY, "-m", "platform_assets.definitions"]
    cli = subprocess.run(command, cwd=REPO, env=cli_env, capture_output=True, text=True)
    assert cli.returncode != 0 and "RUN_FAILURE" in cli.stderr + cli.stdout, cli.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:  # DAGSTER_HOME: the daemon's instance
        [run] = instance.get_runs(dg.RunsFilter(job_name="__ASSET_JOB"))
    assert run.status == dg.DagsterRunStatus.FAILURE
    return run.run_id


def _alerts(receiver: HttpReceiver, key: str) -> list[dict]:
    posts = [r.json() for r in receiver.posts("/hook")]
    return [p for p in posts if p["alert"] == key]


def _gate_alerts(receiver: HttpReceiver) -> list[dict]:
    return _alerts(receiver, ALERT_KEY)
