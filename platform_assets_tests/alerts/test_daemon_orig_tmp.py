"""End to end once: ``dagster-daemon run`` on the real code location raises a gate alert
from a failed run in its instance and delivers it to a webhook exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.processes import default_signals, stop_group
from platform_assets_tests.alerts.receivers import HttpReceiver
from platform_assets_tests.alerts.test_run_alerts import DAY, materialize

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 90.0  # a wait for an event, not a timing assertion: the daemon ticks every 30 s
ALERT_KEY = f"check:orders:{DAY}:primary_key_unique_not_null"


@pytest.mark.timeout(180)
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
    for name in ("PLATFORM_ALERT_SLACK_WEBHOOK_URL", "PLATFORM_ALERT_SMTP_HOST"):
        env.pop(name, None)
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
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not _gate_alerts(receiver):
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(0.5)
    finally:
        stop_group(proc)
        receiver.stop()
        log.close()
    output = (tmp_path / "daemon.log").read_text()
    [alert] = _gate_alerts(receiver)  # one, though the sensors ticked more than once
    assert (alert["severity"], alert["route"], alert["run_id"]) == ("critical", "commerce", run_id)
    assert "daemon-secret-41c7" not in output


def _gate_alerts(receiver: HttpReceiver) -> list[dict]:
    posts = [r.json() for r in receiver.posts("/hook")]
    return [p for p in posts if p["alert"] == ALERT_KEY]
