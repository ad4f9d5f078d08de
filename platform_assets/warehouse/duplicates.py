"""Duplicate keys of a whole load, resolved in SQL before anything is committed.

Validation sees one batch at a time, so it cannot tell whether a key repeats in another
batch; the warehouse can. A load's valid rows are written inside its transaction (into
the partition they replace, or a staging table for merges), then this module decides, for
every key written more than once, before the commit:

* every copy identical (an exact duplicate, e.g. a page delivered twice): one row stays,
  the others are counted as collapsed;
* copies that differ (a conflicting duplicate): no copy can be trusted over another, so
  every copy moves to quarantine with the reason ``conflicting duplicate key``.

The work is GROUP BYs inside the database (DuckDB and PostgreSQL spill to disk), so memory
stays bounded whatever the partition size; a load without repeated keys pays one distinct
count of its keys (``sql.distinct_keys``), and only a load with repeats the GROUP BYs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platform_assets.contracts import Contract
from platform_assets.warehouse.sql import (
    QUARANTINE_COLUMNS,
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    distinct_keys,
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


def _create_temp(
    session: Session,
    name: str,
    like: str,
    select: str,
    params: Mapping[str, Any] | None = None,
) -> None:
    """A temporary table of this transaction shaped by ``like`` (a parameterless SELECT),
    filled by ``select``: PostgreSQL takes no bound parameters in CREATE TABLE AS."""
    shape = f"SELECT * FROM ({like}) AS shape LIMIT 0"  # noqa: S608 - quoted identifiers
    if session.dialect == "duckdb":
        session.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {shape}")
    else:
        session.execute(f"CREATE TEMPORARY TABLE {quote(name)} ON COMMIT DROP AS {shape}")
    session.execute(f"INSERT INTO {quote(name)} {select}", params)  # noqa: S608


@dataclass(frozen=True)
class LoadedRows:
    """Where a load's rows are before its commit: a staging table, or the target table
    restricted to the partition being replaced (``where`` on alias ``s``, its ``params``)."""

    relation: str
    where: str = "TRUE"
    params: Mapping[str, Any] = field(default_factory=dict)


def _count(session: Session, sql: str, params: Mapping[str, Any]) -> int:
    return int(session.execute(f"SELECT count(*) FROM {sql}", params)[0][0])  # noqa: S608


def _quarantine_select(session: Session, contract: Contract, rows: LoadedRows, where: str) -> str:
    """The rows of conflicting keys as quarantine rows: the record and the reason."""
    key_text = ", ".join(f"CAST(s.{quote(k)} AS VARCHAR)" for k in contract.primary_key)
    if session.dialect == "duckdb":
        record = "CAST(to_json(s) AS VARCHAR)"  # the relation holds the contract's columns
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
        f"CAST(:run_id AS VARCHAR), now(), {record}, {reason} "
        f"FROM {rows.relation} AS s WHERE {rows.where} AND {where}"
    )


def resolve_duplicates(
    session: Session,
    contract: Contract,
    rows: LoadedRows,
    asset: str,
    partition_key: str,
    run_id: str,
) -> Duplicates:
    """Quarantine every row of a conflicting key, keep one copy of each exact duplicate.

    ``rows`` holds this load's rows only, in the contract's columns; afterwards every key
    in it is unique.
    """
    keys = column_list(contract.primary_key)
    scope, params = rows.where, dict(rows.params)
    counted = session.execute(
        f"SELECT count(*), {distinct_keys(contract.primary_key, 's')} "  # noqa: S608
        f"FROM {rows.relation} AS s WHERE {scope}",
        params,
    )[0]
    if counted[0] == counted[1]:  # no key repeats
        return Duplicates()
    key_shape = f"SELECT {keys} FROM {rows.relation}"  # noqa: S608 - quoted identifiers
    _create_temp(
        session,
        _DUPLICATED,
        key_shape,
        f"SELECT {keys} FROM {rows.relation} AS s WHERE {scope} "  # noqa: S608
        f"GROUP BY {keys} HAVING count(*) > 1",
        params,
    )
    if not _count(session, quote(_DUPLICATED), {}):
        session.execute(f"DROP TABLE {quote(_DUPLICATED)}")
        return Duplicates()
    columns = ", ".join(f"s.{quote(c)}" for c in contract.column_names)
    repeated = (
        f"SELECT DISTINCT {columns} FROM {rows.relation} AS s "  # noqa: S608
        f"JOIN {quote(_DUPLICATED)} AS d ON {primary_key_match(contract, 's', 'd')} "
        f"WHERE {scope}"
    )
    _create_temp(
        session,
        _CONFLICTING,
        key_shape,
        f"SELECT {keys} FROM ({repeated}) AS v GROUP BY {keys} HAVING count(*) > 1",  # noqa: S608
        params,
    )
    conflicting = (
        f"EXISTS (SELECT 1 FROM {quote(_CONFLICTING)} AS c "  # noqa: S608
        f"WHERE {primary_key_match(contract, 's', 'c')})"
    )
    quarantined = _count(session, f"{rows.relation} AS s WHERE {scope} AND {conflicting}", params)
    if quarantined:
        session.execute(
            f"INSERT INTO {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} "  # noqa: S608
            f"({column_list(QUARANTINE_COLUMNS)}) "
            + _quarantine_select(session, contract, rows, conflicting),
            params
            | {
                "asset": asset,
                "partition_key": partition_key,
                "run_id": run_id,
                "key_columns": ",".join(contract.primary_key),
                "check": CONFLICT_CHECK,
            },
        )
        session.execute(
            f"DELETE FROM {rows.relation} AS s WHERE {scope} AND {conflicting}",  # noqa: S608
            params,
        )
    in_repeated = (
        f"EXISTS (SELECT 1 FROM {quote(_DUPLICATED)} AS d "  # noqa: S608
        f"WHERE {primary_key_match(contract, 's', 'd')})"
    )
    collapsed = _collapse(session, contract, rows, repeated, in_repeated)
    for name in (_CONFLICTING, _DUPLICATED):
        session.execute(f"DROP TABLE {quote(name)}")
    return Duplicates(collapsed=collapsed, conflicting=quarantined)


def _collapse(
    session: Session, contract: Contract, rows: LoadedRows, repeated: str, in_repeated: str
) -> int:
    """Keep one copy of each repeated key's row (every copy is equal by now).

    Only the rows of repeated keys are copied aside and back, not the whole load.
    """
    scope, params = rows.where, dict(rows.params)
    columns = column_list(contract.column_names)
    like = f"SELECT {columns} FROM {rows.relation}"  # noqa: S608 - quoted identifiers
    _create_temp(session, _KEPT, like, repeated, params)
    copies = _count(session, quote(_KEPT), {})
    staged = _count(session, f"{rows.relation} AS s WHERE {scope} AND {in_repeated}", params)
    session.execute(
        f"DELETE FROM {rows.relation} AS s WHERE {scope} AND {in_repeated}",  # noqa: S608
        params,
    )
    session.execute(
        f"INSERT INTO {rows.relation} ({columns}) SELECT {columns} FROM {quote(_KEPT)}"  # noqa: S608
    )
    session.execute(f"DROP TABLE {quote(_KEPT)}")
    return staged - copies
