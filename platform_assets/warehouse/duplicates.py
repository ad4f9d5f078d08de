"""Duplicate keys of a whole load, resolved in SQL before anything is committed.

Validation sees one batch at a time, so it cannot tell whether a key repeats in another
batch; the warehouse can. A load stages its valid rows in a temporary table of its
transaction, then this module decides, for every key staged more than once:

* every copy identical (an exact duplicate, e.g. a page delivered twice): one row stays,
  the others are counted as collapsed;
* copies that differ (a conflicting duplicate): no copy can be trusted over another, so
  every copy moves to quarantine with the reason ``conflicting duplicate key``.

The work is GROUP BYs inside the database (DuckDB and PostgreSQL spill to disk), so memory
stays bounded whatever the partition size; a load without repeated keys pays one GROUP BY
over the key columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from platform_assets.contracts import Contract
from platform_assets.warehouse.sql import (
    QUARANTINE_COLUMNS,
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    primary_key_match,
    qualified,
    quote,
)

if TYPE_CHECKING:
    from platform_assets.warehouse.sessions import Session

CONFLICT_CHECK = "conflicting duplicate key"
_DUPLICATED = "_platform_duplicated_keys"
_CONFLICTING = "_platform_conflicting_keys"
_KEPT = "_platform_kept_rows"


@dataclass(frozen=True)
class Duplicates:
    """What resolving a staged load's keys did: rows collapsed and rows quarantined."""

    collapsed: int = 0  # exact copies of a row that stays
    conflicting: int = 0  # rows quarantined: their key came with different values

    @property
    def any(self) -> bool:
        return bool(self.collapsed or self.conflicting)


def _create_temp(session: Session, name: str, select: str) -> None:
    """A temporary table of this transaction (dropped by the caller or with the session)."""
    if session.dialect == "duckdb":
        session.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {select}")
    else:
        session.execute(f"CREATE TEMPORARY TABLE {quote(name)} ON COMMIT DROP AS {select}")


def _count(session: Session, sql: str) -> int:
    return int(session.execute(f"SELECT count(*) FROM {sql}")[0][0])  # noqa: S608 - quoted


def _quarantine_select(session: Session, contract: Contract, stage: str, where: str) -> str:
    """The staged rows of conflicting keys as quarantine rows: the record and the reason."""
    key_text = ", ".join(f"CAST(s.{quote(k)} AS VARCHAR)" for k in contract.primary_key)
    if session.dialect == "duckdb":
        record = "CAST(to_json(s) AS VARCHAR)"
        reason = (
            "CAST(json_array(json_object('column', CAST(:key_columns AS VARCHAR), "
            "'check', CAST(:check AS VARCHAR), 'value', concat_ws(',', "
            f"{key_text}))) AS VARCHAR)"
        )
    else:
        record = "to_jsonb(s)"
        reason = (
            "jsonb_build_array(jsonb_build_object('column', CAST(:key_columns AS text), "
            f"'check', CAST(:check AS text), 'value', concat_ws(',', {key_text})))"
        )
    return (
        "SELECT CAST(:asset AS VARCHAR), CAST(:partition_key AS VARCHAR), "  # noqa: S608
        f"CAST(:run_id AS VARCHAR), now(), {record}, {reason} FROM {stage} AS s WHERE {where}"
    )


def resolve_duplicates(
    session: Session, contract: Contract, stage: str, asset: str, partition_key: str, run_id: str
) -> Duplicates:
    """Quarantine every staged row of a conflicting key and delete it from ``stage``.

    Exact copies stay in ``stage``: the caller inserts ``SELECT DISTINCT`` from it when
    ``collapsed`` is positive. ``stage`` holds exactly the contract's columns.
    """
    keys = column_list(contract.primary_key)
    _create_temp(
        session,
        _DUPLICATED,
        f"SELECT {keys} FROM {stage} GROUP BY {keys} HAVING count(*) > 1",  # noqa: S608
    )
    if not _count(session, quote(_DUPLICATED)):
        session.execute(f"DROP TABLE {quote(_DUPLICATED)}")
        return Duplicates()
    columns = ", ".join(f"s.{quote(c)}" for c in contract.column_names)
    repeated = (
        f"SELECT DISTINCT {columns} FROM {stage} AS s JOIN {quote(_DUPLICATED)} AS d "  # noqa: S608
        f"ON {primary_key_match(contract, 's', 'd')}"
    )
    _create_temp(
        session,
        _CONFLICTING,
        f"SELECT {keys} FROM ({repeated}) AS v GROUP BY {keys} HAVING count(*) > 1",  # noqa: S608
    )
    conflicting = (
        f"EXISTS (SELECT 1 FROM {quote(_CONFLICTING)} AS c "  # noqa: S608
        f"WHERE {primary_key_match(contract, 's', 'c')})"
    )
    params = {
        "asset": asset,
        "partition_key": partition_key,
        "run_id": run_id,
        "key_columns": ",".join(contract.primary_key),
        "check": CONFLICT_CHECK,
    }
    quarantined = _count(session, f"{stage} AS s WHERE {conflicting}")
    if quarantined:
        session.execute(
            f"INSERT INTO {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} "  # noqa: S608
            f"({column_list(QUARANTINE_COLUMNS)}) "
            + _quarantine_select(session, contract, stage, conflicting),
            params,
        )
        session.execute(f"DELETE FROM {stage} AS s WHERE {conflicting}")  # noqa: S608
    in_repeated = (
        f"EXISTS (SELECT 1 FROM {quote(_DUPLICATED)} AS d "  # noqa: S608
        f"WHERE {primary_key_match(contract, 's', 'd')})"
    )
    collapsed = _collapse(session, stage, repeated, in_repeated)
    for name in (_CONFLICTING, _DUPLICATED):
        session.execute(f"DROP TABLE {quote(name)}")
    return Duplicates(collapsed=collapsed, conflicting=quarantined)


def _collapse(session: Session, stage: str, repeated: str, in_repeated: str) -> int:
    """Keep one copy of each repeated key's row in ``stage`` (all copies are equal now).

    Only the rows of repeated keys are copied aside and back, not the whole partition.
    """
    _create_temp(session, _KEPT, repeated)
    copies = _count(session, quote(_KEPT))
    staged = _count(session, f"{stage} AS s WHERE {in_repeated}")
    session.execute(f"DELETE FROM {stage} AS s WHERE {in_repeated}")  # noqa: S608
    session.execute(f"INSERT INTO {stage} SELECT * FROM {quote(_KEPT)}")  # noqa: S608
    session.execute(f"DROP TABLE {quote(_KEPT)}")
    return staged - copies
