"""The asset every SQL transform becomes: its SELECT run inside the warehouse, one
partition replaced at a time.

The SELECT comes from ``<table>.sql``; columns, keys and docs from the table's contract.
Upstream data is read from the warehouse, never passed between steps.
"""

import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from platform_assets.automation.executors import WAREHOUSE_QUEUE, celery_queue
from platform_assets.automation.partitions import daily_partitions, partition_date
from platform_assets.automation.policies import asset_policies
from platform_assets.components.metadata import asset_tags, definition_metadata, warehouse_kind
from platform_assets.components.retries import RETRY_POLICY, database_faults_by_kind
from platform_assets.contracts import Contract
from platform_assets.observability.lineage import lineage_metadata
from platform_assets.observability.logging import pipeline_log
from platform_assets.quality.checks import LoadFacts, check_specs, run_checks
from platform_assets.quality.drift import prepare_table
from platform_assets.quality.gates import assert_upstream_gates, drift_fails_the_step
from platform_assets.warehouse.resource import Warehouse


def build_sql_asset(
    contract: Contract,
    deps: tuple[str, ...],
    sql_file: Path,
    catalog: Mapping[str, Contract],
    source_systems: tuple[str, ...],
) -> dg.AssetsDefinition:
    """``deps``: the tables the SELECT reads; ``catalog``: every contract of the project;
    ``source_systems``: the systems whose raw tables it is built from (a tag per system)."""
    select_sql = sql_file.read_text()
    partitions_def = daily_partitions if contract.is_partitioned else None  # checks too

    @dg.asset(
        key=contract.table,
        group_name=contract.layer,
        description=contract.description,
        kinds={"sql", *warehouse_kind()},
        tags=asset_tags(contract, source_systems),
        deps=sorted({*deps, *contract.referenced_tables}),
        partitions_def=partitions_def,
        metadata={
            **definition_metadata(contract, catalog, sql_file),
            "sql": dg.MetadataValue.md(f"```sql\n{select_sql}\n```"),
        },
        check_specs=check_specs(contract, catalog, partitions_def),
        **asset_policies(contract),
        retry_policy=RETRY_POLICY,  # transient database faults; permanent ones fail at once
        pool="warehouse",
        op_tags=celery_queue(WAREHOUSE_QUEUE),  # PLATFORM_EXECUTOR=celery: SQL workers
    )
    def _transform(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        with database_faults_by_kind(context):
            return _build(context, warehouse)

    def _build(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = partition_date(context.partition_key) if contract.is_partitioned else None
        assert_upstream_gates(
            context, {d: catalog[d] for d in deps}
        )  # a later run must not read a failed partition
        started = time.monotonic()
        with drift_fails_the_step(contract):
            evolved = prepare_table(warehouse, contract)
        rows = warehouse.replace_from_select(contract, day, select_sql, {"partition": day})
        metadata = {
            "dagster/row_count": warehouse.count(contract),
            "rows_loaded": rows,
            "duration_s": round(time.monotonic() - started, 3),
            **lineage_metadata(contract),  # dagster/column_lineage, one hop up
        }
        pipeline_log(context).info(f"{rows} rows written by {contract.table}.sql")
        if day is not None:
            metadata["dagster/partition_row_count"] = rows
        facts = LoadFacts(context.partition_key if day else "", evolved=tuple(evolved))
        return dg.MaterializeResult(
            metadata=metadata, check_results=run_checks(warehouse, contract, catalog, day, facts)
        )

    return dg.with_source_code_references([_transform])[0]  # + the Python that runs it
