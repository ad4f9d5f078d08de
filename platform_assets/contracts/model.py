"""The data contract: one per table, the single source of truth.

Schemas (pandera), DDL, Dagster column metadata, checks and freshness policies are all
derived from these objects, so a column is declared once and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

ColumnType = Literal["int64", "float64", "string", "bool", "date", "timestamp", "decimal"]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]
Layer = Literal["raw", "staging", "marts"]
LAYERS: tuple[str, ...] = Layer.__args__  # type: ignore[attr-defined]
DriftPolicy = Literal["fail", "ignore_extra"]
DRIFT_POLICIES: tuple[str, ...] = DriftPolicy.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    accepted_values: tuple[str, ...] | None = None
    pattern: str | None = None
    references: str | None = None  # "table.column" of the parent
    precision: int = 18  # decimal only
    scale: int = 2  # decimal only


@dataclass(frozen=True)
class RowRule:
    """A comparison between two columns of the same row, e.g. ``clicks <= impressions``."""

    left: str
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    right: str

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Freshness:
    """How late the newest data may be before a warning and before a failure."""

    warn_after: timedelta
    fail_after: timedelta


@dataclass(frozen=True)
class Contract:
    table: str
    layer: Layer
    description: str
    owner: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    freshness: Freshness
    partition_column: str | None = None
    drift_policy: DriftPolicy = "fail"
    row_rules: tuple[RowRule, ...] = ()
    source_file: str = field(default="", compare=False)

    @property
    def schema(self) -> str:
        """Warehouse schema: one per layer."""
        return self.layer

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def is_partitioned(self) -> bool:
        return self.partition_column is not None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"contract {self.table!r} has no column {name!r}")
