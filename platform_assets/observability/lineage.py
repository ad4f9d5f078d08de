"""Column lineage of the marts, from the ``lineage:`` their contracts declare per column.

Declared, not parsed from SQL: a reviewer reads it next to the column's description, and it
names intent (``tickets`` counts ``stg_tickets.ticket_id``) where a parser sees only ``count(*)``.
The loader rejects a lineage entry naming a column no contract has.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.contracts import Contract

COLUMN_LINEAGE_KEY = "dagster/column_lineage"


def column_lineage(contract: Contract) -> dg.TableColumnLineage | None:
    deps: dict[str, list[dg.TableColumnDep]] = {}
    for column in contract.columns:
        for ref in column.lineage:
            table, name = ref.split(".")
            dep = dg.TableColumnDep(asset_key=dg.AssetKey(table), column_name=name)
            deps.setdefault(column.name, []).append(dep)
    return dg.TableColumnLineage(deps_by_column=deps) if deps else None


def lineage_metadata(contract: Contract) -> dict[str, Any]:
    """Materialization metadata: the UI draws column lineage from the latest one."""
    lineage = column_lineage(contract)
    return {COLUMN_LINEAGE_KEY: lineage} if lineage is not None else {}
