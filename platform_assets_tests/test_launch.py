"""`make run` for real: a child process on a fresh PLATFORM_HOME, as a new user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from platform_assets.launch import EMBEDDED_INSTANCE

REPO = Path(__file__).resolve().parents[1]
ASSETS = (
    "customers orders payments marketing_spend stg_customers stg_orders stg_payments "
    "stg_marketing_spend daily_revenue_by_country marketing_roas customer_lifetime_value"
).split()


def test_platform_run_materializes_everything_and_prints_the_summary(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    env.update(PLATFORM_HOME=str(tmp_path / "home"), PLATFORM_DEMO_DEFECT_RATE="0.05")
    platform = Path(sys.executable).with_name("platform")
    proc = subprocess.run(
        [str(platform), "run"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = proc.stdout[proc.stdout.index("asset ") :]
    for asset in ASSETS:
        line = next(row for row in summary.splitlines() if row.startswith(asset + " "))
        assert "materialized" in line and line.split()[-1] == "0", line  # no failed checks
    orders = next(row for row in summary.splitlines() if row.startswith("orders "))
    assert orders.split()[2:4] == ["190", "10"]  # 200 orders, 5% defective, quarantined
    assert "http://127.0.0.1:3000" in proc.stdout
    home = tmp_path / "home"
    assert (home / "dagster_home" / "dagster.yaml").read_text() == EMBEDDED_INSTANCE
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "raw"."orders"').fetchone() == (190,)
        assert con.execute('SELECT count(*) FROM "platform"."quarantine"').fetchone()[0] >= 10
