"""SQL text shared by the warehouse backends: quoting, DDL from contracts, parameters.

Identifiers are always quoted (contract names are validated, but quoting is the rule, and
columns like ``date`` are reserved words). Values are always bound parameters, written
as ``:name`` in shared SQL and translated to each driver's style.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from platform_assets.contracts import Contract
from platform_assets.contracts.types import sql_type

# Taken by every CREATE ... IF NOT EXISTS on PostgreSQL, which races itself across sessions
# (a unique violation on pg_type): warehouse tables, landing tables, rate limits, alerts.
DDL_LOCK = "platform/ddl"
# PostgreSQL: one holder of ``key`` at a time, released at commit or rollback
XACT_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"
QUARANTINE_SCHEMA = "platform"
QUARANTINE_TABLE = "quarantine"
STAGE_TABLE = "_platform_stage"  # temporary, per load transaction
STAGE_SCHEMA = "_platform_stage"  # DuckDB: a partition's rows before they replace it
QUARANTINE_COLUMNS = ("asset", "partition_key", "run_id", "quarantined_at", "record", "reasons")
_PARAM = re.compile(r"(?<![:\w]):([a-zA-Z_]\w*)")


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier, safe for any name."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote(schema)}.{quote(table)}"


def table_name(contract: Contract) -> str:
    return qualified(contract.schema, contract.table)


def create_table_sql(contract: Contract, dialect: str) -> str:
    columns = ",\n  ".join(
        f"{quote(c.name)} {sql_type(c, dialect)}{'' if c.nullable else ' NOT NULL'}"
        for c in contract.columns
    )
    return f"CREATE TABLE IF NOT EXISTS {table_name(contract)} (\n  {columns}\n)"


def quarantine_ddl(dialect: str) -> str:
    text, ts = ("VARCHAR", "TIMESTAMPTZ") if dialect == "duckdb" else ("text", "timestamptz")
    record = "VARCHAR" if dialect == "duckdb" else "jsonb"
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} ("
        f"asset {text} NOT NULL, partition_key {text} NOT NULL, run_id {text} NOT NULL, "
        f"quarantined_at {ts} NOT NULL, record {record} NOT NULL, reasons {record} NOT NULL)"
    )


def column_list(names: list[str] | tuple[str, ...]) -> str:
    return ", ".join(quote(n) for n in names)


def distinct_keys(keys: list[str] | tuple[str, ...], alias: str = "") -> str:
    """``count(DISTINCT key)``: equal to ``count(*)`` only when no key repeats.

    Why not the GROUP BY that counts repeated keys: on PostgreSQL that hash aggregate spills
    at 1M keys and took 3x as long as this sort-based count, and a clean load (the usual
    case) needs no more than this yes-or-no; the GROUP BY runs only when the answer is no.
    A NULL single-column key is not counted, so it makes the counts differ too; a composite
    key is counted as a row value, whose NULL fields compare equal, as in GROUP BY.
    """
    prefix = f"{alias}." if alias else ""
    columns = ", ".join(f"{prefix}{quote(k)}" for k in keys)
    return f"count(DISTINCT ({columns}))" if len(keys) > 1 else f"count(DISTINCT {columns})"


def to_driver_params(sql: str, style: str) -> str:
    """Translate ``:name`` parameters to ``$name`` (duckdb) or ``%(name)s`` (psycopg)."""
    if style == "duckdb":
        return _PARAM.sub(r"$\1", sql)
    return _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def used_params(sql: str, params: Mapping[str, object] | None) -> dict[str, object]:
    """Only the parameters the statement names: duckdb rejects unused ones."""
    names = set(_PARAM.findall(sql))
    return {k: v for k, v in (params or {}).items() if k in names}


def to_positional(sql: str, params: Mapping[str, object] | None) -> tuple[str, tuple[object, ...]]:
    """``:name`` parameters as ``$1, $2, ...`` plus their values in order (ADBC PostgreSQL)."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    text = _PARAM.sub(number, sql)
    values = params or {}
    missing = [name for name in order if name not in values]
    if missing:
        raise KeyError(f"SQL parameters {missing} have no value")
    return text, tuple(values[name] for name in order)


def lock_key(contract: Contract, partition: object | None) -> str:
    """The advisory-lock key of one partition (``*``: the whole table); one writer at a time."""
    return f"{contract.schema}.{contract.table}/{'*' if partition is None else partition}"


def primary_key_match(contract: Contract, left: str, right: str) -> str:
    """``left.k1 = right.k1 AND ...`` over the contract's primary key (aliases are trusted)."""
    return " AND ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in contract.primary_key)
