"""Arrow tables with the exact types of the contract, the shape every bulk load takes.

Binary COPY (PostgreSQL) and DuckDB's Arrow scan both take the Arrow types literally: an
int32 sent into a bigint column is an error in binary COPY, a float into a decimal loses
cents. So each contract type maps to exactly one Arrow type here, and a chunk whose values
cannot be represented in it fails loudly instead of being converted silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
import pyarrow as pa

from platform_assets.contracts import Column, Contract

ARROW_TYPES: dict[str, pa.DataType] = {
    "int64": pa.int64(),  # bigint
    "float64": pa.float64(),  # double precision
    "string": pa.string(),  # text
    "bool": pa.bool_(),  # boolean
    "date": pa.date32(),  # date
    "timestamp": pa.timestamp("us", tz="UTC"),  # timestamp with time zone
}
QUARANTINE_ARROW_SCHEMA = pa.schema(
    [
        pa.field("asset", pa.string(), nullable=False),
        pa.field("partition_key", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("quarantined_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("record", pa.string(), nullable=False),
        pa.field("reasons", pa.string(), nullable=False),
    ]
)


def arrow_type(column: Column) -> pa.DataType:
    if column.type == "decimal":
        return pa.decimal128(column.precision, column.scale)
    return ARROW_TYPES[column.type]


def arrow_schema(contract: Contract) -> pa.Schema:
    return pa.schema(
        [pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in contract.columns]
    )


def column_array(series: pd.Series, column: Column) -> pa.Array:
    """One column in its contract type; a value the type cannot hold raises ArrowInvalid."""
    target = arrow_type(column)
    array = pa.array(series, from_pandas=True)
    if array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise TypeError(
            f"column {column.name!r}: {series.dtype} values do not fit contract type "
            f"{column.type} ({target}): {exc}"
        ) from exc


def to_arrow(frame: pd.DataFrame, contract: Contract) -> pa.Table:
    """A validated chunk as an Arrow table in the contract's column order and types."""
    arrays = [column_array(frame[c.name], c) for c in contract.columns]
    return pa.Table.from_arrays(arrays, schema=arrow_schema(contract))


def quarantine_table(
    asset: str,
    partition_key: str,
    run_id: str,
    quarantined_at: datetime,
    records: Sequence[str],
    reasons: Sequence[str],
) -> pa.Table:
    """Quarantine rows (records and reasons already JSON text) for one chunk."""
    n = len(records)
    return pa.Table.from_pydict(
        {
            "asset": [asset] * n,
            "partition_key": [partition_key] * n,
            "run_id": [run_id] * n,
            "quarantined_at": [quarantined_at] * n,
            "record": list(records),
            "reasons": list(reasons),
        },
        schema=QUARANTINE_ARROW_SCHEMA,
    )
