"""One platform, three real daily runs, one report: shared by every report test.

Built once per module (the runs are the expensive part): the demo sources at a 5% defect
rate (quarantine in every raw table), a planted failing gate (two of the five marketing
rows of the middle day have a negative spend: 40% quarantined against a 20% threshold),
and personal data planted in the source database (one customer with an e-mail that fails
its pattern, so its whole record, name included, lands in quarantine).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from platform_assets.demo.config import demo_landing_dir, demo_source_db_url
from platform_assets.demo.drops import drop_path, write_drops
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import customers_table, seed_database
from platform_assets.report.asset import REPORT_ASSET, report_folder
from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.conftest import CUSTOMER_DAYS, TEST_CFG, TEST_DAY

DAYS = [TEST_DAY - timedelta(days=2), TEST_DAY - timedelta(days=1), TEST_DAY]
FAILED_DAY = DAYS[1]
PLANTED_EMAIL = "zq-planted-pii-no-at-sign"
PLANTED_NAME = "Plantedname Zyxwvutsrq"
PLANTED_VALID_NAME = "Quibblesome Plantedvalid"
PLANTED_VALID_EMAIL = "planted.valid.person@example.test"


@dataclass
class Built:
    home: Path
    folder: Path
    warehouse: Warehouse
    results: dict[date, dg.ExecuteInProcessResult]
    instance: dg.DagsterInstance


def _plant_customers(url: str) -> None:
    at = datetime.combine(DAYS[0], datetime.min.time())
    engine = sa.create_engine(url)
    common = {"country": "DE", "acquisition_channel": "search", "signup_at": at, "updated_at": at}
    planted = [
        {"customer_id": 990_000_001, "email": PLANTED_EMAIL, "full_name": PLANTED_NAME},
        {"customer_id": 990_000_002, "email": PLANTED_VALID_EMAIL, "full_name": PLANTED_VALID_NAME},
    ]
    with engine.begin() as conn:
        conn.execute(sa.insert(customers_table), [{**row, **common} for row in planted])
    engine.dispose()


def _plant_failing_gate(landing: Path) -> None:
    """Two negative spends in the middle day's drop: quarantined, 40% > the 20% threshold."""
    path = drop_path(landing, FAILED_DAY)
    header, *rows = path.read_text().splitlines()
    spend = header.split(",").index("spend_usd")
    for i in (0, 1):
        cells = rows[i].split(",")
        cells[spend] = "-12.50"
        rows[i] = ",".join(cells)
    path.write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture(scope="package")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    home = tmp_path_factory.mktemp("report") / "platform"
    cfg = replace(TEST_CFG, defect_rate=0.05)
    env = {"PLATFORM_HOME": str(home), "PLATFORM_API_TOKEN": f"test-token-{uuid.uuid4().hex}",
           "PLATFORM_UI_URL": "http://dagster.example:3000"}  # fmt: skip
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PLATFORM_REPORT_DIR", raising=False)
        monkeypatch.delenv("PLATFORM_WAREHOUSE_URL", raising=False)
        seed_database(demo_source_db_url(env), cfg, DAYS[0] - timedelta(days=CUSTOMER_DAYS - 1),
                      TEST_DAY)  # fmt: skip
        _plant_customers(demo_source_db_url(env))
        landing = Path(demo_landing_dir(env))
        write_drops(landing, cfg, DAYS[0], DAYS[-1])
        _plant_failing_gate(landing)
        with DemoApi(cfg, env["PLATFORM_API_TOKEN"]) as api:
            monkeypatch.setenv("PLATFORM_API_URL", api.url)
            from platform_assets.definitions import build_definitions
            from platform_assets.home import embedded_warehouse_url

            job = build_definitions().resolve_job_def("daily_job")
            tables = [k for k in job.asset_layer.executable_asset_keys if k.path != [REPORT_ASSET]]
            results = {}
            with dg.DagsterInstance.ephemeral() as instance:
                for day in DAYS:  # the whole daily job, report included, on the last day only
                    results[day] = job.execute_in_process(
                        partition_key=day.isoformat(),
                        instance=instance,
                        raise_on_error=False,
                        asset_selection=None if day == DAYS[-1] else tables,
                    )
                warehouse = Warehouse(url=embedded_warehouse_url(env))
                yield Built(home, report_folder(env), warehouse, results, instance)
