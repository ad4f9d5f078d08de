from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, text


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "platform_assets.demo", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_seed_writes_database_and_drops(tmp_path: Path) -> None:
    db = tmp_path / "source.db"
    result = _cli(
        "seed",
        "--sql-url", f"sqlite:///{db}",
        "--drops-dir", str(tmp_path / "drops"),
        "--first-day", "2026-11-01",
        "--last-day", "2026-11-02",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "seeded 20 customers" in result.stdout
    assert "2 drop file(s) written" in result.stdout
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM customers")).scalar_one() == 20
    engine.dispose()


def test_serve_refuses_to_start_without_token() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PLATFORM_DEMO_API_TOKEN"}
    result = _cli("serve", env=env)
    assert result.returncode == 2
    assert "PLATFORM_DEMO_API_TOKEN is not set" in result.stderr


def test_bad_config_is_reported_by_variable_name() -> None:
    env = {**os.environ, "PLATFORM_DEMO_API_TOKEN": "t", "PLATFORM_DEMO_DEFECT_RATE": "x"}
    result = _cli("serve", env=env)
    assert result.returncode == 2
    assert "PLATFORM_DEMO_DEFECT_RATE" in result.stderr
