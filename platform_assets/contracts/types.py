"""Each contract column type in every system that holds its values: one row per type.

pandas (the dtype validation coerces to), Arrow (the exact type bulk loads send: binary
COPY and DuckDB's Arrow scan take it literally), the DDL of each warehouse backend, and the
names ``information_schema.columns.data_type`` reports for it (read back by the drift check).
``decimal`` is the one type with parameters: its precision and scale are filled in here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from platform_assets.contracts.model import Column


@dataclass(frozen=True)
class ContractType:
    name: str
    pandas: Any  # a pandas dtype (decimal: Float64, validation compares floats)
    arrow: pa.DataType | None  # None: built from the column's precision and scale
    duckdb: str  # DDL; ``{precision}`` and ``{scale}`` are filled in from the column
    postgres: str
    catalog: tuple[str, ...]  # information_schema data_type, lower-cased, without "(p, s)"

    @property
    def parametrised(self) -> bool:
        return self.arrow is None


TYPES: dict[str, ContractType] = {
    t.name: t
    for t in (
        ContractType("int64", "Int64", pa.int64(), "BIGINT", "bigint", ("bigint",)),
        ContractType(
            "float64",
            "Float64",
            pa.float64(),
            "DOUBLE",
            "double precision",
            ("double", "double precision"),
        ),
        ContractType(
            "string",
            "str",
            pa.string(),
            "VARCHAR",
            "text",
            ("varchar", "text", "character varying"),
        ),
        ContractType("bool", "boolean", pa.bool_(), "BOOLEAN", "boolean", ("boolean",)),
        ContractType("date", "datetime64[us]", pa.date32(), "DATE", "date", ("date",)),
        ContractType(
            "timestamp",
            pd.DatetimeTZDtype("us", "UTC"),
            pa.timestamp("us", tz="UTC"),
            "TIMESTAMPTZ",
            "timestamp with time zone",
            ("timestamp with time zone",),
        ),
        ContractType(
            "decimal",
            "Float64",
            None,
            "DECIMAL({precision}, {scale})",
            "DECIMAL({precision}, {scale})",
            ("numeric", "decimal"),
        ),
    )
}

# information_schema data_type -> contract type, for both backends.
CATALOG_TYPES: dict[str, str] = {alias: t.name for t in TYPES.values() for alias in t.catalog}


def pandas_dtype(type_name: str) -> Any:
    return TYPES[type_name].pandas


def arrow_type(column: Column) -> pa.DataType:
    """The one Arrow type a column's values are sent as."""
    mapped = TYPES[column.type]
    return pa.decimal128(column.precision, column.scale) if mapped.arrow is None else mapped.arrow


def sql_type(column: Column, dialect: str) -> str:
    """The column's type in ``CREATE TABLE`` / ``ADD COLUMN`` for one backend."""
    mapped = TYPES[column.type]
    ddl = {"duckdb": mapped.duckdb, "postgres": mapped.postgres}[dialect]
    return ddl.format(precision=column.precision, scale=column.scale)


def type_label(column: Column) -> str:
    """How people read the type: ``int64``, ``decimal(18,2)``."""
    if TYPES[column.type].parametrised:
        return f"{column.type}({column.precision},{column.scale})"
    return column.type
