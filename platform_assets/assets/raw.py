"""Source assets: extract -> validate against the contract -> replace the partition.

One factory serves every source table; what differs per table is only where its chunks
come from (a REST endpoint, a SQL query, a CSV drop), declared in RAW_SOURCES.
"""


import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from platform_assets.assets.metadata import definition_metadata
from platform_assets.automation.partitions import daily_partitions, partition_date
from platform_assets.contracts import Contract, contracts
from platform_assets.quality.checks import check_specs, run_checks
from platform_assets.quality.validation import validate_chunk
from platform_assets.warehouse.resource import LoadStats, Warehouse

Extract = Callable[[Any, date | None], Iterator[pd.DataFrame]]


@dataclass(frozen=True)
class RawSource:
    table: str
    kind: str  # shown as a kind in the UI
    resource_key: str
    extract: Extract


RAW_SOURCES = (
    RawSource(
        "orders",
        "api",
        "storefront_api",
        lambda api, day: api.offset_pages("/v1/orders", {"date": day.isoformat()}),
    ),
    RawSource(
        "payments",
        "api",
        "storefront_api",
        lambda api, day: api.cursor_pages("/v1/payments", {"date": day.isoformat()}),
    ),
    RawSource(
        "customers",
        "sql",
        "storefront_db",
        lambda db, _: db.chunks(sa.text("SELECT * FROM customers ORDER BY customer_id")),
    ),
    RawSource(
        "marketing_spend",
        "csv",
        "landing",
        lambda landing, day: landing.csv_chunks(f"marketing_spend/marketing_spend_{day}.csv"),
    ),
)

RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def load_metadata(
    warehouse: Warehouse, contract: Contract, day: date | None, stats: LoadStats, seconds: float
) -> dict[str, Any]:
    """What the UI plots over time: rows, quarantine rate and duration per materialization."""
    metadata: dict[str, Any] = {
        "dagster/row_count": warehouse.count(contract),
        "rows_extracted": stats.extracted,
        "rows_loaded": stats.loaded,
        "rows_quarantined": stats.quarantined,
        "quarantine_rate": stats.quarantined / stats.extracted if stats.extracted else 0.0,
        "chunks": stats.chunks,
        "duration_s": round(seconds, 3),
    }
    if day is not None:
        metadata["dagster/partition_row_count"] = stats.loaded
    return metadata


def build_raw_asset(contract: Contract, source: RawSource) -> dg.AssetsDefinition:
    @dg.asset(
        key=contract.table,
        group_name="sources",
        description=contract.description,
        kinds={source.kind, "pandas"},
        partitions_def=daily_partitions if contract.is_partitioned else None,
        metadata=definition_metadata(contract),
        check_specs=check_specs(contract),
        required_resource_keys={"warehouse", source.resource_key},
        retry_policy=RETRY_POLICY,
        pool="warehouse",
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        warehouse: Warehouse = context.resources.warehouse
        day = partition_date(context.partition_key) if contract.is_partitioned else None
        started = time.monotonic()
        with warehouse.partition_writer(
            contract,
            day,
            asset=contract.table,
            partition_key=context.partition_key if day else "",
            run_id=context.run.run_id,
        ) as writer:
            resource = getattr(context.resources, source.resource_key)
            for frame in source.extract(resource, day):
                writer.append(validate_chunk(frame, contract, pd.Timestamp(day) if day else None))
                context.log.info(
                    f"{contract.table}: chunk {writer.stats.chunks}: {writer.stats.loaded} rows "
                    f"loaded, {writer.stats.quarantined} quarantined so far"
                )
        stats = writer.stats
        return dg.MaterializeResult(
            metadata=load_metadata(warehouse, contract, day, stats, time.monotonic() - started),
            check_results=run_checks(warehouse, contract, day),
        )

    return _raw


def raw_assets() -> list[dg.AssetsDefinition]:
    return [build_raw_asset(contracts()[s.table], s) for s in RAW_SOURCES]
