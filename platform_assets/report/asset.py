"""The report as an asset: rebuilt at the end of every daily run, and after a failed one.

It depends on every table, so in ``daily_job`` it runs once they are all done. A run that
fails (a blocking gate, most often: the day the report matters most) skips it with the rest
of the downstream steps; ``report_after_failure`` then rebuilds it in a run of its own.
"""

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from platform_assets.alerts.resource import Alerting
from platform_assets.automation.executors import WAREHOUSE_QUEUE, celery_queue
from platform_assets.contracts import Contract
from platform_assets.home import platform_home
from platform_assets.report.graph import TableGraph
from platform_assets.warehouse.resource import Warehouse

REPORT_ASSET = "quality_report"
REPORT_JOB = "quality_report_job"
REPORT_DIR_VARIABLE = "PLATFORM_REPORT_DIR"
DEFAULT_DAYS = 30


def report_folder(env: Mapping[str, str] = os.environ) -> Path:
    """PLATFORM_REPORT_DIR, else ``report/`` under the platform home."""
    given = env.get(REPORT_DIR_VARIABLE, "").strip()
    return Path(given).resolve() if given else platform_home(env) / "report"


class ReportConfig(dg.Config):
    folder: str = Field(default="", description="Where to write it (default: PLATFORM_REPORT_DIR, "
                        "else report/ under PLATFORM_HOME).")  # fmt: skip
    days: int = Field(default=DEFAULT_DAYS, description="Latest partitions shown per table.")


def report_asset(contracts: Sequence[Contract], graph: TableGraph) -> dg.AssetsDefinition:
    """``graph``: the tables' dependencies and checks, read when the definitions are built."""
    tables = [c.table for c in contracts]

    @dg.asset(
        name=REPORT_ASSET,
        deps=[dg.AssetKey(t) for t in tables],
        group_name="reports",
        kinds={"html"},
        pool="warehouse",  # it reads the warehouse: one DuckDB reader at a time with writers
        op_tags=celery_queue(WAREHOUSE_QUEUE),  # PLATFORM_EXECUTOR=celery: SQL workers
        description="The data-quality report: static HTML per table, readable without the UI "
        "(overview, contract, check results per partition, volume, quarantine, lineage).",
    )
    def quality_report(
        context: dg.AssetExecutionContext,
        config: ReportConfig,
        warehouse: Warehouse,
        alerting: Alerting,
    ) -> dg.MaterializeResult:
        from platform_assets.report.gather import Sources, gather  # the report step's own
        from platform_assets.report.render import render  # imports: not every process's

        sources = Sources(context.instance, warehouse, alerting.store(), graph)
        facts = gather(sources, contracts, config.days, time.time(), alerting.ui_url)
        written = render(facts, Path(config.folder).resolve() if config.folder else report_folder())
        context.log.info(f"quality report: {written.pages} pages in {written.folder}")
        return dg.MaterializeResult(
            metadata={
                "folder": str(written.folder),
                "index": dg.MetadataValue.path(str(written.folder / "index.html")),
                "pages": written.pages,
                "bytes": written.bytes,
                "tables": len(tables),
            }
        )

    return quality_report


report_job = dg.define_asset_job(
    REPORT_JOB,
    selection=dg.AssetSelection.assets(REPORT_ASSET),
    description="Rebuild the data-quality report alone (make report; after a failed daily run).",
)


def report_after_failure(monitored_job: Any) -> dg.SensorDefinition:
    """A failed daily run skipped the report: rebuild it, once per failed run."""

    @dg.run_failure_sensor(
        name="report_after_failure",
        monitored_jobs=[monitored_job],
        request_job=report_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest:
        return dg.RunRequest(run_key=f"report-after-{context.dagster_run.run_id}")

    return _sensor
