"""The demo SQL source: a ``customers`` table in SQLite or PostgreSQL.

Timestamps are stored as real (timezone-naive, UTC) datetimes so that incremental readers can
filter with bound parameters such as ``WHERE updated_at >= :since``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import make_url

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import customers_between

BATCH_SIZE = 5_000
# Two first runs seeding one fresh PostgreSQL database at once: both DROP IF EXISTS (nothing),
# both CREATE, and the second fails on pg_type's unique index. One seeder at a time instead.
SEED_LOCK = "platform/demo-seed"

_metadata = MetaData()
customers_table = Table(
    "customers",
    _metadata,
    Column("customer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("country", String(2)),
    Column("acquisition_channel", String(32), nullable=False),
    Column("signup_at", DateTime(timezone=False), nullable=False),
    Column("updated_at", DateTime(timezone=False), nullable=False),
)


def _sqlite_transactional_ddl(engine: Engine) -> None:
    """pysqlite autocommits DDL; take over BEGIN so drop+create+insert is one transaction."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _explicit_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    _sqlite_transactional_ddl(engine)
    return engine


def _utc_naive(stamps: pd.Series) -> list[dt.datetime]:
    return [dt.datetime.fromisoformat(s.removesuffix("Z")) for s in stamps]


def _batches(frame: pd.DataFrame) -> Iterator[list[dict[str, Any]]]:
    """Rows ready for executemany: real datetimes, NULL for missing values."""
    for start in range(0, len(frame), BATCH_SIZE):
        chunk = frame.iloc[start : start + BATCH_SIZE]
        rows = chunk.astype(object).where(chunk.notna(), None)
        rows["signup_at"] = _utc_naive(chunk["signup_at"])
        rows["updated_at"] = _utc_naive(chunk["updated_at"])
        yield rows.to_dict("records")


def seed_database(url: str, cfg: DemoConfig, first_day: dt.date, last_day: dt.date) -> int:
    """(Re)create ``customers`` with the customers of ``first_day..last_day``; returns the count.

    Idempotent: the table is dropped, recreated and filled in a single transaction, so readers
    see either the old or the new table. Defective rows are inserted as generated.
    """
    frame = customers_between(first_day, last_day, cfg)
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":  # SQLite: one writer at a time already
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": SEED_LOCK},
                )
            customers_table.drop(conn, checkfirst=True)
            customers_table.create(conn)
            for batch in _batches(frame):
                conn.execute(insert(customers_table), batch)
    finally:
        engine.dispose()
    return len(frame)
