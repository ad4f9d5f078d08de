"""Blocking asset checks derived from contracts, evaluated in the warehouse per partition.

Checks run as SQL where the data lives, on exactly the partition just written, and are
declared on the asset (``check_specs``) so a failure blocks downstream steps in the run.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from platform_assets.contracts import Contract
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sql import column_list, quote, table_name

PRIMARY_KEY_CHECK = "primary_key_unique_not_null"
SAMPLE_SIZE = 5


def check_specs(contract: Contract) -> list[dg.AssetCheckSpec]:
    keys = ", ".join(contract.primary_key)
    return [
        dg.AssetCheckSpec(
            PRIMARY_KEY_CHECK,
            asset=contract.table,
            blocking=True,
            description=f"Primary key ({keys}) is unique and never null in the partition.",
        )
    ]


def _where(contract: Contract, extra: str | None = None) -> str:
    clauses = [extra] if extra else []
    if contract.partition_column is not None:
        clauses.append(f"{quote(contract.partition_column)} = :partition")
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def primary_key_check(
    warehouse: Warehouse, contract: Contract, partition_value: date | None
) -> dg.AssetCheckResult:
    """Counts null and duplicated keys; a sample of duplicated key values to act on."""
    keys = column_list(contract.primary_key)
    any_null = " OR ".join(f"{quote(k)} IS NULL" for k in contract.primary_key)
    params = {"partition": partition_value}
    table = table_name(contract)
    with warehouse.session() as session:
        nulls = session.execute(f"SELECT count(*) FROM {table}{_where(contract, any_null)}", params)  # noqa: S608
        duplicates = session.execute(
            f"SELECT {keys}, count(*) AS n FROM {table}{_where(contract)} "  # noqa: S608
            f"GROUP BY {keys} HAVING count(*) > 1 ORDER BY n DESC, {keys} LIMIT {SAMPLE_SIZE}",
            params,
        )
        duplicated_keys = session.execute(
            f"SELECT count(*) FROM (SELECT {keys} FROM {table}{_where(contract)} "  # noqa: S608
            f"GROUP BY {keys} HAVING count(*) > 1) AS d",
            params,
        )
    null_count, duplicate_count = nulls[0][0], duplicated_keys[0][0]
    return dg.AssetCheckResult(
        check_name=PRIMARY_KEY_CHECK,
        asset_key=contract.table,
        passed=null_count == 0 and duplicate_count == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "null_keys": null_count,
            "duplicated_keys": duplicate_count,
            "primary_key": ", ".join(contract.primary_key),
            "sample_duplicates": dg.MetadataValue.json(
                [dict(zip([*contract.primary_key, "copies"], map(str, row))) for row in duplicates]
            ),
        },
    )


def run_checks(
    warehouse: Warehouse, contract: Contract, partition_value: date | None
) -> list[dg.AssetCheckResult]:
    return [primary_key_check(warehouse, contract, partition_value)]
