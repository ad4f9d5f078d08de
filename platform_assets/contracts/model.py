"""The data contract: one per table, the single source of truth.

Schemas (pandera), DDL, Dagster column metadata, checks and freshness policies are all
derived from these objects, so a column is declared once and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Literal

ColumnType = Literal["int64", "float64", "string", "bool", "date", "timestamp", "decimal"]
COLUMN_TYPES: tuple[str, ...] = ColumnType.__args__  # type: ignore[attr-defined]
Layer = Literal["raw", "staging", "marts"]
LAYERS: tuple[str, ...] = Layer.__args__  # type: ignore[attr-defined]
DriftPolicy = Literal["fail", "ignore_extra", "evolve"]
DRIFT_POLICIES: tuple[str, ...] = DriftPolicy.__args__  # type: ignore[attr-defined]
Severity = Literal["ERROR", "WARN"]
SEVERITIES: tuple[str, ...] = Severity.__args__  # type: ignore[attr-defined]

# Check names: derived here so the loader can reject a severity for a check that does not exist.
PRIMARY_KEY_CHECK = "primary_key_unique_not_null"
VALUES_CHECK = "accepted_values_and_ranges"
QUARANTINE_CHECK = "quarantine_rate"
VOLUME_CHECK = "volume_anomaly"
DRIFT_CHECK = "schema_drift"
FOREIGN_KEY_PREFIX = "foreign_key_"


@dataclass(frozen=True)
class Derivation:
    """A column computed at extraction from another one of the same record, e.g. the UTC day
    of a timestamp as the partition column of an API that sends no date."""

    function: Literal["utc_date"]
    source: str

    def __str__(self) -> str:
        return f"{self.function}({self.source})"


DERIVATIONS = {"utc_date": ("timestamp", "date")}  # function -> (source type, result type)


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
    pii: bool = False  # never shown in check metadata samples
    lineage: tuple[str, ...] = ()  # staging/marts: the "table.column"s it is computed from
    derive: Derivation | None = None  # raw: computed at extraction when the source omits it
    # Whitespace around a text value: false (default) quarantines " 12" in a number column and
    # keeps it in a string; true strips it first, for every type. Explicit, never silent.
    trim: bool = False
    allow_non_finite: bool = False  # float64 only: inf/-inf load (NaN never does)

    @property
    def has_value_rules(self) -> bool:
        return self.min is not None or self.max is not None or self.accepted_values is not None


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
class LateArrival:
    """A pushed stream's events may arrive this long after their day ends: the day is closed
    (and built) only then, and an event arriving later still reopens it."""

    window: timedelta


@dataclass(frozen=True)
class Lag:
    """How long a pushed stream's messages may wait unlanded: a warning, then an error."""

    warn: timedelta
    error: timedelta


@dataclass(frozen=True)
class Volume:
    """Expected rows per partition: a floor, and a robust z-score against recent partitions.

    ``history_partitions`` previous partitions are read back from the table itself; the z-score
    judges only once ``min_history`` of them exist, and fails beyond ``max_abs_z``.
    """

    min_rows: int = 1
    history_partitions: int = 14
    min_history: int = 5
    max_abs_z: float = 4.0


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
    volume: Volume = Volume()
    quarantine_threshold: float | None = None  # raw tables: max share of quarantined rows
    deadline: time | None = None  # partitioned: UTC time of day by which D-1 is materialized
    check_severity: tuple[tuple[str, Severity], ...] = ()  # check name -> severity (else ERROR)
    late_arrival: LateArrival | None = None  # pushed event streams only
    lag: Lag | None = None  # pushed event streams only: the consumer's lag objective
    source_file: str = field(default="", compare=False)
    path: Path | None = field(default=None, compare=False)  # the YAML file, when read from one

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

    @property
    def pii_columns(self) -> set[str]:
        return {c.name for c in self.columns if c.pii}

    @property
    def derived_columns(self) -> list[Column]:
        return [c for c in self.columns if c.derive is not None]

    @property
    def foreign_keys(self) -> list[Column]:
        return [c for c in self.columns if c.references is not None]

    @property
    def referenced_tables(self) -> list[str]:
        """Parents of the foreign keys: loaded first, since the key checks read them."""
        return sorted({c.references.split(".")[0] for c in self.foreign_keys if c.references})

    @property
    def check_names(self) -> list[str]:
        """Every gate this contract implies, in the order they are declared and run."""
        names = [PRIMARY_KEY_CHECK]
        if self.row_rules or any(c.has_value_rules for c in self.columns):
            names.append(VALUES_CHECK)
        names += [f"{FOREIGN_KEY_PREFIX}{c.name}" for c in self.foreign_keys]
        if self.layer == "raw":
            names.append(QUARANTINE_CHECK)
        return [*names, VOLUME_CHECK, DRIFT_CHECK]

    def severity(self, check_name: str) -> Severity:
        return dict(self.check_severity).get(check_name, "ERROR")

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"contract {self.table!r} has no column {name!r}")
