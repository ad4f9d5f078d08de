"""Staging and mart assets: SQL run inside the warehouse, one partition replaced at a time.

Each table's SELECT lives in ``sql/<table>.sql``; its columns, keys and docs come from the
table's contract. Upstream data is read from the warehouse, never passed between steps.
"""

import time
from pathlib import Path

import dagster as dg

from platform_assets.assets.metadata import definition_metadata
from platform_assets.automation.executors import WAREHOUSE_QUEUE, celery_queue
from platform_assets.automation.partitions import daily_partitions, partition_date
from platform_assets.contracts import Contract, contracts
from platform_assets.observability.lineage import lineage_metadata
from platform_assets.observability.logging import pipeline_log
from platform_assets.quality.checks import LoadFacts, check_specs, run_checks
from platform_assets.quality.drift import prepare_table
from platform_assets.quality.gates import assert_upstream_gates, drift_fails_the_step
from platform_assets.warehouse.resource import Warehouse

SQL_DIR = Path(__file__).parent / "sql"

TRANSFORM_DEPS: dict[str, tuple[str, ...]] = {
    "stg_customers": ("customers",),
    "stg_orders": ("orders",),
    "stg_payments": ("payments",),
    "stg_marketing_spend": ("marketing_spend",),
    "daily_revenue_by_country": ("stg_orders", "stg_customers", "stg_payments"),
    "marketing_roas": ("stg_marketing_spend", "stg_customers", "stg_orders"),
    "customer_lifetime_value": ("stg_customers", "stg_orders", "stg_payments"),
}
GROUPS = {"staging": "staging", "marts": "marts"}


def build_sql_asset(contract: Contract, deps: tuple[str, ...]) -> dg.AssetsDefinition:
    select_sql = (SQL_DIR / f"{contract.table}.sql").read_text()

    @dg.asset(
        key=contract.table,
        group_name=GROUPS[contract.layer],
        description=contract.description,
        kinds={"sql"},
        deps=sorted({*deps, *contract.referenced_tables}),
        partitions_def=daily_partitions if contract.is_partitioned else None,
        metadata={
            **definition_metadata(contract),
            "sql": dg.MetadataValue.md(f"```sql\n{select_sql}\n```"),
        },
        check_specs=check_specs(contract),
        pool="warehouse",
        op_tags=celery_queue(WAREHOUSE_QUEUE),  # PLATFORM_EXECUTOR=celery: SQL workers
    )
    def _transform(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = partition_date(context.partition_key) if contract.is_partitioned else None
        assert_upstream_gates(context, deps)  # a later run must not read a failed partition
        started = time.monotonic()
        with drift_fails_the_step(contract):
            evolved = prepare_table(warehouse, contract)
        rows = warehouse.replace_from_select(contract, day, select_sql, {"partition": day})
        metadata = {
            "dagster/row_count": warehouse.count(contract),
            "rows_loaded": rows,
            "duration_s": round(time.monotonic() - started, 3),
            **lineage_metadata(contract),  # dagster/column_lineage of the marts
        }
        pipeline_log(context).info(f"{rows} rows written by {contract.table}.sql")
        if day is not None:
            metadata["dagster/partition_row_count"] = rows
        facts = LoadFacts(context.partition_key if day else "", evolved=tuple(evolved))
        return dg.MaterializeResult(
            metadata=metadata, check_results=run_checks(warehouse, contract, day, facts)
        )

    return _transform


def transform_assets() -> list[dg.AssetsDefinition]:
    return [build_sql_asset(contracts()[table], deps) for table, deps in TRANSFORM_DEPS.items()]
