"""One transaction against the warehouse, for each backend.

A session is opened per unit of work and closed at once: DuckDB lets one process hold
its file at a time, so connections are never kept between steps.

Two kinds of session: ``transaction`` for statements and reads (psycopg on PostgreSQL, so
numerics come back as Decimal), and ``load_transaction`` for bulk loads, which adds Arrow
sinks (ADBC binary COPY on PostgreSQL, see ``adbc.py``; Arrow scans on DuckDB).

The drivers (duckdb, psycopg, ADBC with Arrow) are imported when a session opens, not with
this module: the code location imports it, and most of its processes never connect.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from platform_assets.contracts import Contract
from platform_assets.warehouse.faults import InvalidSettingError
from platform_assets.warehouse.sinks import BATCH_BYTES, DuckDBSink, Sink
from platform_assets.warehouse.sql import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    STAGE_TABLE,
    XACT_LOCK,
    column_list,
    qualified,
    quote,
    table_name,
    to_driver_params,
    used_params,
)
from platform_assets.warehouse.urls import dialect_of, duckdb_path, libpq_url

DUCKDB_MEMORY_LIMIT_ENV = "PLATFORM_DUCKDB_MEMORY_LIMIT"
DUCKDB_MEMORY_LIMIT = "100MB"  # peak RSS at 5M rows 1.23x that at 100k (bench.materialize)

if TYPE_CHECKING:
    import duckdb
    import psycopg
    import pyarrow as pa


__all__ = [
    "LoadSession",
    "Session",
    "dialect_of",
    "duckdb_autocommit",
    "load_transaction",
    "transaction",
]


class Session(Protocol):
    dialect: str

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]: ...

    def lock(self, key: str) -> None: ...


class LoadSession(Session, Protocol):
    """A session that also bulk-loads Arrow tables, all inside its one transaction."""

    def table_sink(self, schema: str, table: str, columns: pa.Schema) -> Sink: ...

    def stage(self, contract: Contract) -> tuple[str, Sink]:
        """An empty temporary table shaped like the contract's, its name and its sink."""
        ...

    def quarantine_sink(self) -> Sink: ...


class DuckDBSession:
    dialect = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, batch_bytes: int = BATCH_BYTES) -> None:
        self._con = con
        self._batch_bytes = batch_bytes
        self._sinks: list[DuckDBSink] = []

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        self.flush()  # statements see every row written so far
        result = self._con.execute(to_driver_params(sql, "duckdb"), used_params(sql, params))
        return result.fetchall() if result.description else []

    def lock(self, key: str) -> None:
        """DuckDB's file lock already admits one writer process."""

    def flush(self) -> None:
        for sink in self._sinks:
            sink.finish()

    def table_sink(self, schema: str, table: str, columns: pa.Schema) -> Sink:
        return self._sink(qualified(schema, table), column_list(columns.names))

    def _sink(self, target: str, columns: str) -> DuckDBSink:
        sink = DuckDBSink(self._con, target, columns, self._batch_bytes)
        self._sinks.append(sink)
        return sink

    def stage(self, contract: Contract) -> tuple[str, Sink]:
        stage = f"{quote('temp')}.{quote('main')}.{quote(STAGE_TABLE)}"
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {quote(STAGE_TABLE)} AS "  # noqa: S608 - quoted
            f"SELECT * FROM {table_name(contract)} LIMIT 0"
        )
        return stage, self._sink(stage, column_list(contract.column_names))

    def quarantine_sink(self) -> Sink:
        from platform_assets.warehouse.arrow import QUARANTINE_ARROW_SCHEMA

        return self.table_sink(QUARANTINE_SCHEMA, QUARANTINE_TABLE, QUARANTINE_ARROW_SCHEMA)


class PostgresSession:
    dialect = "postgres"

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(to_driver_params(sql, "postgres"), used_params(sql, params) or None)
            return cur.fetchall() if cur.description else []

    def lock(self, key: str) -> None:
        """Serialise writers of the same partition; released at commit or rollback."""
        self.execute(XACT_LOCK, {"key": key})


def duckdb_connect(url: str) -> duckdb.DuckDBPyConnection:
    """A connection whose operators (the gates' and the duplicate keys' aggregates over a
    whole partition) spill to disk past PLATFORM_DUCKDB_MEMORY_LIMIT instead of growing with
    the partition."""
    import duckdb

    limit = os.environ.get(DUCKDB_MEMORY_LIMIT_ENV) or DUCKDB_MEMORY_LIMIT
    try:
        return duckdb.connect(str(duckdb_path(url)), config={"memory_limit": limit})
    except duckdb.ParserException as exc:
        raise InvalidSettingError(f"{DUCKDB_MEMORY_LIMIT_ENV}={limit!r}: {exc}") from exc


@contextmanager
def duckdb_transaction(url: str, batch_bytes: int = BATCH_BYTES) -> Iterator[DuckDBSession]:
    path = duckdb_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb_connect(url)
    try:
        con.execute("BEGIN TRANSACTION")
        session = DuckDBSession(con, batch_bytes)
        yield session
        session.flush()
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()


@contextmanager
def duckdb_autocommit(url: str, batch_bytes: int = BATCH_BYTES) -> Iterator[DuckDBSession]:
    """A DuckDB session outside any transaction: every statement and every sink batch
    commits on its own. DuckDB keeps a transaction's uncommitted rows in memory whatever
    ``memory_limit`` says (5M rows loaded in one transaction: +400 MB), so a large load is
    staged this way first and moved into its table by one short transaction."""
    con = duckdb_connect(url)
    try:
        session = DuckDBSession(con, batch_bytes)
        yield session
        session.flush()
    finally:
        con.close()


@contextmanager
def transaction(url: str) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back on error."""
    if dialect_of(url) == "duckdb":
        with duckdb_transaction(url) as session:
            yield session
    else:
        import psycopg

        with psycopg.connect(libpq_url(url)) as conn:  # commits on success, rolls back on error
            yield PostgresSession(conn)


@contextmanager
def load_transaction(url: str, batch_bytes: int = BATCH_BYTES) -> Iterator[LoadSession]:
    """A bulk-load session in one transaction; its sinks' rows commit with it or not at all."""
    if dialect_of(url) == "duckdb":
        with duckdb_transaction(url, batch_bytes) as session:
            yield session
    else:
        from platform_assets.warehouse.adbc import adbc_transaction

        with adbc_transaction(libpq_url(url), batch_bytes) as session:
            yield session
