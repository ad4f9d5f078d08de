"""Each contract column type in every system that holds its values: one row per type.

pandas (the dtype validation coerces to), Arrow (the exact type bulk loads send: binary
COPY and DuckDB's Arrow scan take it literally), the DDL of each warehouse backend, and the
names ``information_schema.columns.data_type`` reports for it (read back by the drift check).
``decimal`` is the one type with parameters: its precision and scale are filled in here only.

Each type also has a grammar: the exact spelling a text value must have to be read as that
type (``TEXT_GRAMMAR``, ASCII only, anchored, no surrounding whitespace unless the column says
``trim: true``), described for people in ``ContractType.grammar`` (docs/contracts.md). A value
the grammar does not accept is quarantined, never reinterpreted: ``1e7`` is no integer,
``١٢`` (Arabic-Indic digits) no number, ``2026-03-10T05:00`` no date.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from platform_assets.contracts.model import Column

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class ContractType:
    name: str
    pandas: str  # a pandas dtype, spelled (decimal: Float64, validation compares floats)
    arrow: str | None  # an Arrow type, spelled; None: built from the precision and scale
    duckdb: str  # DDL; ``{precision}`` and ``{scale}`` are filled in from the column
    postgres: str
    catalog: tuple[str, ...]  # information_schema data_type, lower-cased, without "(p, s)"
    grammar: str  # what validation accepts: text spelling and already typed values

    @property
    def parametrised(self) -> bool:
        return self.arrow is None


INT_GRAMMAR = (
    "text `[+-]?[0-9]+` (ASCII digits only); a JSON integer, or an integral finite JSON "
    "number (`1300.0`); never a bool, and never the text `5.0`, `1e7` or `10_000_000`; "
    "within int64"
)
_FLOAT = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
# The exact text spelling of each type, matched whole. Plain strings that Python's ``re`` and
# Arrow's RE2 read alike: ``[0-9]`` is ASCII only in both (``\d`` is not, in ``re``).
TEXT_GRAMMAR: dict[str, str] = {
    "int64": r"[+-]?[0-9]+",
    "float64": _FLOAT,
    "decimal": _FLOAT,
    "bool": r"(?i:true|false|1|0)",
    "date": r"[0-9]{4}-[0-9]{2}-[0-9]{2}",
    "timestamp": (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
        r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
    ),
}
NON_FINITE_TEXT = r"(?i:[+-]?(?:inf|infinity))"  # float64 text with allow_non_finite: true
FLOAT_GRAMMAR = (
    f"text `{_FLOAT}` (ASCII digits only); a JSON number, never a bool; finite unless "
    "`allow_non_finite: true`, which admits `inf`, `-inf`, `infinity` (any letter case) too. "
    "NaN is never a value: send null"
)

TYPES: dict[str, ContractType] = {
    t.name: t
    for t in (
        ContractType("int64", "Int64", "int64", "BIGINT", "bigint", ("bigint",), INT_GRAMMAR),
        ContractType(
            "float64",
            "Float64",
            "double",
            "DOUBLE",
            "double precision",
            ("double", "double precision"),
            FLOAT_GRAMMAR,
        ),
        ContractType(
            "string",
            "str",
            "string",
            "VARCHAR",
            "text",
            ("varchar", "text", "character varying"),
            "any text without NUL characters (PostgreSQL text cannot hold one); never a "
            "number or a bool",
        ),
        ContractType(
            "bool",
            "boolean",
            "bool",
            "BOOLEAN",
            "boolean",
            ("boolean",),
            "JSON `true`/`false`; text `true`, `false`, `1`, `0` (any letter case); 1 and 0",
        ),
        ContractType(
            "date",
            "datetime64[us]",
            "date32[day]",
            "DATE",
            "date",
            ("date",),
            "text `YYYY-MM-DD`, a real calendar day; a date value, or a datetime at midnight "
            "UTC. A time of day is quarantined, never truncated",
        ),
        ContractType(
            "timestamp",
            "datetime64[us, UTC]",
            "timestamp[us, tz=UTC]",
            "TIMESTAMPTZ",
            "timestamp with time zone",
            ("timestamp with time zone",),
            "ISO 8601 text `YYYY-MM-DD(T| )HH:MM[:SS[.fraction]][Z|±HH:MM|±HHMM|±HH]` "
            "(no offset: UTC); a datetime value (naive: UTC)",
        ),
        ContractType(
            "decimal",
            "Float64",
            None,
            "DECIMAL({precision}, {scale})",
            "DECIMAL({precision}, {scale})",
            ("numeric", "decimal"),
            "as float64, always finite, with at most precision - scale digits before the point",
        ),
    )
}

# information_schema data_type -> contract type, for both backends.
CATALOG_TYPES: dict[str, str] = {alias: t.name for t in TYPES.values() for alias in t.catalog}


# pandas and pyarrow are imported when a type is first asked for, not with the contracts:
# the code location reads contracts to declare assets and needs neither library for that.


@cache
def pandas_dtype(type_name: str) -> Any:
    import pandas as pd

    spelled = TYPES[type_name].pandas
    return pd.DatetimeTZDtype("us", "UTC") if spelled == "datetime64[us, UTC]" else spelled


@cache
def _arrow_types() -> dict[str, pa.DataType]:
    import pyarrow as pa

    made = {
        "int64": pa.int64(),
        "double": pa.float64(),
        "string": pa.string(),
        "bool": pa.bool_(),
        "date32[day]": pa.date32(),
        "timestamp[us, tz=UTC]": pa.timestamp("us", tz="UTC"),
    }
    assert all(str(t) == name for name, t in made.items()), made  # spelled as Arrow does
    return made


def arrow_type(column: Column) -> pa.DataType:
    """The one Arrow type a column's values are sent as."""
    mapped = TYPES[column.type]
    if mapped.arrow is None:
        import pyarrow as pa

        return pa.decimal128(column.precision, column.scale)
    return _arrow_types()[mapped.arrow]


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
