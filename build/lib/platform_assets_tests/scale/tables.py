"""A PostgreSQL warehouse's whole content, for comparing two runs of the same partitions."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# Columns that name the run or the moment that wrote a row, not the data.
VOLATILE = {"run_id", "quarantined_at"}
VOLATILE_IN = {"platform.cursors": {"updated_at"}}


def warehouse_tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of the warehouse with its rows, sorted, without the volatile columns."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in names:
            skip = VOLATILE | VOLATILE_IN.get(f"{schema}.{table}", set())
            columns = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                    (schema, table),
                )
                if name not in skip
            ]
            query = sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(schema, table)
            )
            tables[f"{schema}.{table}"] = sorted(conn.execute(query).fetchall(), key=repr)
    return tables
