"""The one table of contract types: complete, and consistent with what each backend reports."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pyarrow as pa

from platform_assets.contracts.model import COLUMN_TYPES, Column, Contract, Freshness
from platform_assets.contracts.types import (
    CATALOG_TYPES,
    TYPES,
    arrow_type,
    pandas_dtype,
    sql_type,
    type_label,
)
from platform_assets.warehouse.resource import Warehouse

SAMPLES = {
    "int64": [7, None],
    "float64": [0.5, None],
    "string": ["x", None],
    "bool": [True, None],
    "date": [pd.Timestamp("2026-03-10"), None],
    "timestamp": [pd.Timestamp("2026-03-10 12:00", tz="UTC"), None],
    "decimal": [12.5, None],
}
EVERY_TYPE = Contract(
    table="every type",
    layer="raw",
    description="One column per contract type.",
    owner="team:test",
    columns=tuple(Column(f"c_{t}", t, "", precision=12, scale=3) for t in COLUMN_TYPES),
    primary_key=("c_int64",),
    freshness=Freshness(timedelta(hours=26), timedelta(hours=30)),
)


def test_one_row_per_contract_type() -> None:
    assert tuple(TYPES) == COLUMN_TYPES
    assert set(SAMPLES) == set(COLUMN_TYPES)


def test_decimal_precision_and_scale_reach_every_system() -> None:
    column = Column("amount", "decimal", "", precision=12, scale=3)
    assert arrow_type(column) == pa.decimal128(12, 3)
    assert sql_type(column, "duckdb") == sql_type(column, "postgres") == "DECIMAL(12, 3)"
    assert type_label(column) == "decimal(12,3)"
    assert type_label(Column("n", "int64", "")) == "int64"


def test_the_pandas_dtype_of_each_type_converts_to_its_arrow_type() -> None:
    """What validation produces is what the load sends, without losing a value."""
    for column in EVERY_TYPE.columns:
        series = pd.Series(SAMPLES[column.type], dtype=pandas_dtype(column.type))
        array = pa.array(series, from_pandas=True).cast(arrow_type(column))
        assert array.type == arrow_type(column)
        assert array.null_count == 1 and array[0].is_valid, column.type


def test_every_type_reads_back_from_the_catalog_as_itself(warehouse: Warehouse) -> None:
    """The DDL each backend gets and the names its information_schema reports agree."""
    warehouse.ensure_table(EVERY_TYPE)
    rows = warehouse.query(
        "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_schema = 'raw' AND table_name = 'every type' ORDER BY ordinal_position"
    )
    assert [CATALOG_TYPES[r[0].lower().split("(")[0]] for r in rows] == list(COLUMN_TYPES)
    assert rows[COLUMN_TYPES.index("decimal")][1:] == (12, 3)
