"""Column lineage of every staging and mart table, from the ``lineage:`` its contract declares
per column (checked against the table's SQL when the definitions load:
components/sql_lineage.py).

Declared, not only parsed: a reviewer reads it next to the column's description, and it
names intent (``date`` is the partition the SQL filters on ``stg_tickets.ticket_date``)
where a parser sees only ``CAST(:partition AS DATE)``. Dagster gets one hop
(``dagster/column_lineage`` on each materialization); people get the whole chain down to the
raw columns in each column's description, in docs/contracts.md and from
``column_upstreams`` below (for the quality report and other tools).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from platform_assets.contracts import Contract, contracts
from platform_assets.contracts.lineage import chain_text, column_chains, raw_columns

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


def column_upstreams(
    table: str, catalog: Mapping[str, Contract] | None = None
) -> dict[str, dict[str, Any]]:
    """Per column of ``table``, in contract order: ``direct`` (the "table.column"s it is
    computed from), ``raw`` (the raw columns at the bottom of every chain) and ``text``
    (``<staging table>.<column> <- <raw table>.<column>``; empty for a raw column).
    ``catalog``: default the code location's contracts."""
    catalog = catalog if catalog is not None else contracts()
    return {
        column: {
            "direct": [u.ref for u in chains],
            "raw": list(raw_columns(chains)),
            "text": chain_text(chains),
        }
        for column, chains in column_chains(catalog, table).items()
    }
