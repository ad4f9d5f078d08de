"""`make dev` for a person beside the UI: alert links at the UI's real port, the demo's
defect rate, and the variables a `dagster` command in another terminal needs (mode 600)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from platform_assets.alerts.resource import alerting_from_env
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.launch import cli_env_file, dev_environment


def test_alert_links_follow_the_ui_port_and_the_demo_shows_quarantine(tmp_path: Path) -> None:
    env = {"PLATFORM_HOME": str(tmp_path / "home"), "PLATFORM_UI_PORT": "4400"}
    dev_environment(env)
    assert env["PLATFORM_UI_URL"] == "http://127.0.0.1:4400"
    links = alerting_from_env(env).links()
    assert links.run("r1") == "http://127.0.0.1:4400/runs/r1"
    assert links.asset("orders") == "http://127.0.0.1:4400/assets/orders"
    assert DemoConfig.from_env(env).defect_rate == 0.01  # as `make run`: quarantine at work
    assert env["DAGSTER_HOME"] == str(tmp_path / "home" / "dagster_home")


def test_a_ui_url_set_by_the_user_is_kept(tmp_path: Path) -> None:
    env = {"PLATFORM_HOME": str(tmp_path), "PLATFORM_UI_URL": "https://dagster.example"}
    dev_environment(env)
    assert alerting_from_env(env).links().run("r1") == "https://dagster.example/runs/r1"


def test_the_cli_env_file_is_owner_only_and_gives_a_shell_the_same_variables(
    tmp_path: Path,
) -> None:
    env = {"PLATFORM_HOME": str(tmp_path / "home"), "PLATFORM_UI_PORT": "4400"}
    dev_environment(env)
    env["PLATFORM_API_URL"] = "http://127.0.0.1:18765"
    env["PLATFORM_API_TOKEN"] = "tok'en with $pecial; chars"  # quoted for the shell
    stale = tmp_path / "home" / "dev.env"
    stale.write_text("left by a killed launcher\n")
    stale.chmod(0o644)
    old_umask = os.umask(0)  # the file's mode must not depend on the caller's umask
    try:
        with cli_env_file(env) as path:
            assert path == stale
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            shell = subprocess.run(
                ["bash", "-c", f". {path} && env"],
                env={"PATH": os.environ["PATH"]},
                capture_output=True,
                text=True,
                check=True,
            )
            seen = dict(line.split("=", 1) for line in shell.stdout.splitlines() if "=" in line)
            for name in ("DAGSTER_HOME", "PLATFORM_HOME", "PLATFORM_API_URL", "PLATFORM_UI_URL"):
                assert seen[name] == env[name], name
            assert seen["PLATFORM_API_TOKEN"] == "tok'en with $pecial; chars"
    finally:
        os.umask(old_umask)
    assert not path.exists()  # the token dies with the demo API
