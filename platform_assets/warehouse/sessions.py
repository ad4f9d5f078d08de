"""One transaction against the warehouse, for each backend.

A session is opened per unit of work and closed at once: DuckDB lets one process hold
its file at a time, so connections are never kept between steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
import psycopg
from psycopg import sql as pgsql

from platform_assets.warehouse.sql import column_list, qualified, to_driver_params, used_params


class Session(Protocol):
    dialect: str

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]: ...

    def insert_frame(
        self, schema: str, table: str, frame: pd.DataFrame, types: list[str]
    ) -> None: ...

    def lock(self, key: str) -> None: ...


def dialect_of(url: str) -> str:
    if url.startswith("duckdb:"):
        return "duckdb"
    if url.startswith(("postgresql:", "postgresql+", "postgres:")):
        return "postgres"
    raise ValueError(
        "PLATFORM_WAREHOUSE_URL must start with duckdb:/// or postgresql://; "
        f"got a URL with scheme {url.split(':', 1)[0]!r}"
    )


def duckdb_path(url: str) -> Path:
    """``duckdb:///relative/file.duckdb`` or ``duckdb:////absolute/file.duckdb``."""
    return Path(url.removeprefix("duckdb:///"))


def libpq_url(url: str) -> str:
    """psycopg wants ``postgresql://``; SQLAlchemy-style ``postgresql+driver://`` is accepted."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


class DuckDBSession:
    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        result = self._con.execute(to_driver_params(sql, "duckdb"), used_params(sql, params))
        return result.fetchall() if result.description else []

    def insert_frame(self, schema: str, table: str, frame: pd.DataFrame, types: list[str]) -> None:
        self._con.register("_platform_chunk", frame)
        try:
            columns = column_list(list(frame.columns))
            self._con.execute(
                f"INSERT INTO {qualified(schema, table)} ({columns}) "  # noqa: S608 - quoted identifiers
                f"SELECT {columns} FROM _platform_chunk"
            )
        finally:
            self._con.unregister("_platform_chunk")

    def lock(self, key: str) -> None:
        """DuckDB's file lock already admits one writer process."""


def _python_values(series: pd.Series, column_type: str) -> list[Any]:
    if column_type == "date":
        return [None if pd.isna(v) else v.date() for v in series]
    if column_type == "timestamp":
        return [None if pd.isna(v) else v.to_pydatetime() for v in series]
    return series.astype(object).where(series.notna(), None).tolist()


class PostgresSession:
    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(to_driver_params(sql, "postgres"), used_params(sql, params) or None)
            return cur.fetchall() if cur.description else []

    def insert_frame(self, schema: str, table: str, frame: pd.DataFrame, types: list[str]) -> None:
        statement = pgsql.SQL("COPY {}.{} ({}) FROM STDIN").format(
            pgsql.Identifier(schema),
            pgsql.Identifier(table),
            pgsql.SQL(", ").join(pgsql.Identifier(c) for c in frame.columns),
        )
        columns = [_python_values(frame[c], t) for c, t in zip(frame.columns, types, strict=True)]
        with self._conn.cursor() as cur, cur.copy(statement) as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)

    def lock(self, key: str) -> None:
        """Serialise writers of the same partition; released at commit or rollback."""
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))", {"key": key})


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back on error."""
    if dialect_of(url) == "duckdb":
        path = duckdb_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
        try:
            con.execute("BEGIN TRANSACTION")
            yield DuckDBSession(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.close()
    else:
        with psycopg.connect(libpq_url(url)) as conn:  # commits on success, rolls back on error
            yield PostgresSession(conn)
