"""Schema drift: the extracted data and the warehouse table, each against the contract.

Two places can drift. The source (a column added, removed, renamed or retyped in what we
extract) is seen chunk by chunk during validation and summed up in ``FrameDrift``. The
warehouse table (created from an older contract, or altered by hand) is read from
``information_schema``. The contract's ``drift_policy`` decides what is tolerated:

- ``fail``: nothing; extracted-column drift raises before anything is loaded.
- ``ignore_extra``: columns the contract does not declare are dropped and reported.
- ``evolve``: as ``ignore_extra``, and the warehouse follows the contract: columns the
  contract declares but the table lacks are added (``ALTER TABLE ADD COLUMN``, nullable
  since existing rows have no value); source columns missing but nullable load as null.

Type changes are never tolerated. Every finding is reported in the ``schema_drift`` check.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform_assets.contracts import Contract
from platform_assets.contracts.types import CATALOG_TYPES
from platform_assets.warehouse.sessions import Session

if TYPE_CHECKING:  # the code location imports this module: no pandas on the way
    from platform_assets.warehouse.records import ValidatedChunk
    from platform_assets.warehouse.resource import Warehouse


class SchemaDriftError(ValueError):
    """The extracted data's columns do not match the contract, and its drift policy says so."""


@dataclass
class FrameDrift:
    """What the extracted chunks of one partition looked like, against the contract."""

    contract: Contract
    rows: int = 0
    extra: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    non_null: Counter = field(default_factory=Counter)
    unparseable: Counter = field(default_factory=Counter)

    def add(self, chunk: ValidatedChunk) -> ValidatedChunk:
        self.rows += chunk.extracted
        self.extra += [c for c in chunk.extra_columns if c not in self.extra]
        self.missing += [c for c in chunk.missing_columns if c not in self.missing]
        self.non_null.update(chunk.non_null)
        self.unparseable.update(chunk.unparseable)
        return chunk

    def findings(self) -> list[dict[str, Any]]:
        dropped = "not in the contract; not loaded"
        found = [_finding("extracted", "added", c, dropped) for c in self.extra]
        found += [_finding("extracted", "removed", c, "loaded as null") for c in self.missing]
        for column in self.contract.columns:
            non_null, bad = self.non_null[column.name], self.unparseable[column.name]
            if non_null and bad == non_null:
                detail = f"all {bad} values fail type {column.type}"
                found.append(_finding("extracted", "type_changed", column.name, detail))
            elif self.rows and not column.nullable and non_null == 0:
                detail = f"all {self.rows} values null; contract says not null"
                found.append(_finding("extracted", "nullability_changed", column.name, detail))
        return found


@dataclass(frozen=True)
class WarehouseColumn:
    name: str
    type: str  # a contract type, or the warehouse's own name when it maps to none
    nullable: bool
    precision: int | None = None
    scale: int | None = None


def _finding(where: str, kind: str, column: str, detail: str) -> dict[str, Any]:
    return {"where": where, "kind": kind, "column": column, "detail": detail}


def _normalise_type(data_type: str) -> str:
    base = data_type.lower().split("(")[0].strip()
    return CATALOG_TYPES.get(base, data_type)


def warehouse_columns(session: Session, contract: Contract) -> list[WarehouseColumn]:
    """The table's columns in order; empty when the table does not exist yet."""
    rows = session.execute(
        "SELECT column_name, data_type, is_nullable, numeric_precision, numeric_scale "
        "FROM information_schema.columns WHERE table_schema = :schema AND table_name = :table "
        "ORDER BY ordinal_position",
        {"schema": contract.schema, "table": contract.table},
    )
    return [
        WarehouseColumn(name, _normalise_type(data_type), nullable == "YES", precision, scale)
        for name, data_type, nullable, precision, scale in rows
    ]


def _column_findings(contract: Contract, observed: WarehouseColumn) -> list[dict[str, Any]]:
    column = contract.column(observed.name)
    found = []
    expected_type = column.type
    actual_type = observed.type
    if column.type == "decimal" and observed.type == "decimal":
        expected_type = f"decimal({column.precision},{column.scale})"
        actual_type = f"decimal({observed.precision},{observed.scale})"
    if expected_type != actual_type:
        detail = f"contract {expected_type}, warehouse {actual_type}"
        found.append(_finding("warehouse", "type_changed", column.name, detail))
    if column.nullable != observed.nullable:
        words = {True: "nullable", False: "not null"}
        detail = f"contract {words[column.nullable]}, warehouse {words[observed.nullable]}"
        found.append(_finding("warehouse", "nullability_changed", column.name, detail))
    return found


def warehouse_findings(contract: Contract, observed: list[WarehouseColumn]) -> list[dict[str, Any]]:
    if not observed:
        return [_finding("warehouse", "removed", "*", "table does not exist")]
    names = [c.name for c in observed]
    found = [
        _finding("warehouse", "added", c.name, "not in the contract")
        for c in observed
        if c.name not in contract.column_names
    ]
    found += [
        _finding("warehouse", "removed", name, "declared in the contract")
        for name in contract.column_names
        if name not in names
    ]
    for column in observed:
        if column.name in contract.column_names:
            found += _column_findings(contract, column)
    return found


def tolerated(contract: Contract, finding: dict[str, Any]) -> bool:
    """Whether the contract's drift policy accepts this finding (type changes: never)."""
    policy, kind = contract.drift_policy, finding["kind"]
    if policy == "fail" or kind == "type_changed":
        return False
    if kind == "added":
        return True
    if kind == "removed":  # only source columns, only nullable ones (validation enforced it)
        return policy == "evolve" and finding["where"] == "extracted"
    # nullability: evolve adds columns as nullable although the contract says not null
    return (
        policy == "evolve"
        and finding["where"] == "warehouse"
        and "warehouse nullable" in (finding["detail"])
    )


def prepare_table(warehouse: Warehouse, contract: Contract) -> list[str]:
    """Before a load: evolve the table to the contract, or fail naming the columns.

    Returns the columns added. A missing table is left to ``ensure_table`` to create.
    """
    with warehouse.session() as session:
        observed = [c.name for c in warehouse_columns(session, contract)]
    expected = contract.column_names
    if not observed or observed == expected:
        return []
    missing = [c for c in expected if c not in observed]
    extra = [c for c in observed if c not in expected]
    appendable = not extra and observed == expected[: len(observed)]
    if contract.drift_policy == "evolve" and appendable:
        warehouse.add_columns(contract, missing)
        return missing
    how = (
        "evolve only appends columns declared at the end of the contract"
        if contract.drift_policy == "evolve"
        else "set drift_policy: evolve to add new columns, or migrate the table"
    )
    raise SchemaDriftError(
        f"{contract.table}: warehouse table {contract.schema}.{contract.table} has columns "
        f"{observed}, contract {contract.source_file} declares {expected} "
        f"(missing in the table: {missing}; not in the contract: {extra}; "
        f"drift_policy: {contract.drift_policy}); {how}"
    )
