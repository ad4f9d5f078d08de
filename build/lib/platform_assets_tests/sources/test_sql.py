"""The SQL extractor on SQLite and PostgreSQL sources: streamed chunks, bound windows and marks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import customers_between, customers_for_day
from platform_assets.demo.sql_source import seed_database
from platform_assets.sources.sql import SqlDatabase, SqlTable, _select
from platform_assets_tests.sources.conftest import Recorder

CFG = DemoConfig(seed=9, customers_per_day=25)
FIRST, LAST = dt.date(2026, 3, 1), dt.date(2026, 3, 4)
CUSTOMERS = SqlTable(
    "customers", key=("customer_id",), updated_column="updated_at", window_column="signup_at"
)


@pytest.fixture(params=["sqlite", "postgres"])
def source_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.db'}"
    else:
        url = request.getfixturevalue("make_pg_database")()
    seed_database(url.replace("postgresql://", "postgresql+psycopg://"), CFG, FIRST, LAST)
    return url


def _utc(stamps: pd.Series) -> pd.Series:
    return pd.to_datetime(stamps, utc=True)


def _ids(frames: list[pd.DataFrame]) -> list[int]:
    return [int(i) for f in frames for i in f["customer_id"]]


def test_streams_every_row_in_chunks_of_the_configured_size(source_url: str) -> None:
    log = Recorder()
    frames = list(SqlDatabase(url=source_url).table_chunks(CUSTOMERS, chunk_size=30, log=log))
    assert [len(f) for f in frames] == [30, 30, 30, 10]
    assert _ids(frames) == sorted(customers_between(FIRST, LAST, CFG)["customer_id"])
    level, last = log.lines[-1]
    assert level == "info" and "done, 4 chunks, 100 rows" in last


def test_the_high_water_mark_selects_rows_at_or_after_it(source_url: str) -> None:
    truth = customers_between(FIRST, LAST, CFG)
    mark = _utc(truth["updated_at"]).sort_values().iloc[60].to_pydatetime()
    frames = list(SqlDatabase(url=source_url).table_chunks(CUSTOMERS, since=mark, chunk_size=16))
    want = truth[_utc(truth["updated_at"]) >= mark]
    assert sorted(_ids(frames)) == sorted(want["customer_id"]) and len(want) == 40
    got_stamps = [pd.Timestamp(v) for f in frames for v in f["updated_at"]]
    assert got_stamps == sorted(got_stamps)  # ordered by the mark: chunks advance it


def test_the_partition_window_selects_one_day(source_url: str) -> None:
    day = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    window = (day, day + dt.timedelta(days=1))
    frames = list(SqlDatabase(url=source_url).table_chunks(CUSTOMERS, window=window))
    assert _ids(frames) == sorted(customers_for_day(day.date(), CFG)["customer_id"])


def test_window_and_mark_are_bound_parameters() -> None:
    source = sa.Table(
        "customers", sa.MetaData(), sa.Column("customer_id", sa.Integer),
        sa.Column("updated_at", sa.DateTime), sa.Column("signup_at", sa.DateTime),
    )  # fmt: skip
    day = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    query = _select(source, CUSTOMERS, day, (day, day + dt.timedelta(days=1)))
    sql = str(query.compile(dialect=sa.dialects.postgresql.dialect()))
    assert "%(since)s" in sql and "%(window_start)s" in sql and "%(window_end)s" in sql
    assert "2026" not in sql


def test_postgres_streams_through_a_server_side_cursor(make_pg_database) -> None:
    url = make_pg_database()
    seed_database(url.replace("postgresql://", "postgresql+psycopg://"), CFG, FIRST, LAST)
    frames = SqlDatabase(url=url).table_chunks(CUSTOMERS, chunk_size=10)
    first = next(frames)
    with psycopg.connect(url) as observer:
        [(state, query)] = observer.execute(
            "SELECT state, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    # Paused after one chunk: the source holds a cursor and has handed out only 10 rows.
    assert len(first) == 10
    assert state == "idle in transaction" and query.startswith("FETCH FORWARD")
    assert len(_ids([first, *frames])) == 100
