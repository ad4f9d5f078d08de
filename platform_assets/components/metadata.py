"""Asset metadata derived from contracts (never written by hand per asset)."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.contracts import Contract
from platform_assets.contracts.types import type_label


def column_schema(contract: Contract) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=c.name,
                type=type_label(c),
                description=c.description,
                constraints=dg.TableColumnConstraints(
                    nullable=c.nullable,
                    unique=contract.primary_key == (c.name,),
                    other=[f"references {c.references}"] if c.references else [],
                ),
            )
            for c in contract.columns
        ]
    )


def definition_metadata(contract: Contract) -> dict[str, Any]:
    return {
        "dagster/column_schema": column_schema(contract),
        "dagster/table_name": f"{contract.schema}.{contract.table}",
        "contract": contract.source_file,
        "primary_key": ", ".join(contract.primary_key),
    }
