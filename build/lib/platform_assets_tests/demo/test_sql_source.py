from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from platform_assets.demo import sql_source
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import customers_between, defects
from platform_assets.demo.sql_source import customers_table, seed_database

FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 7)
CFG = DemoConfig(customers_per_day=30, defect_rate=0.1)


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'nested' / 'source.db'}"
    return request.getfixturevalue("demo_postgres_url")


def _query(url: str, sql: str, **params: object) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def test_seed_inserts_the_generated_customers(sql_url: str) -> None:
    count = seed_database(sql_url, CFG, FIRST, LAST)
    expected = customers_between(FIRST, LAST, CFG)
    assert count == len(expected) == 7 * 30
    engine = create_engine(sql_url)
    with engine.connect() as conn:
        rows = conn.execute(select(customers_table).order_by("customer_id")).all()
    engine.dispose()
    assert [row.customer_id for row in rows] == expected["customer_id"].tolist()
    assert [row.email for row in rows] == expected["email"].tolist()
    assert all(isinstance(row.signup_at, dt.datetime) for row in rows)
    assert all(row.signup_at.tzinfo is None for row in rows)
    assert rows[0].signup_at.isoformat() + "Z" == expected["signup_at"].iloc[0]


def test_seed_keeps_defective_rows_as_generated(sql_url: str) -> None:
    seed_database(sql_url, CFG, FIRST, LAST)
    bad = {}
    for offset in range(7):
        bad |= defects("customers", FIRST + dt.timedelta(days=offset), CFG)
    assert bad
    null_country = _query(sql_url, "SELECT customer_id FROM customers WHERE country IS NULL")
    no_at = _query(sql_url, "SELECT customer_id FROM customers WHERE email NOT LIKE '%@%'")
    assert {row[0] for row in null_country} == {k for k, v in bad.items() if v == "null_country"}
    assert {row[0] for row in no_at} == {k for k, v in bad.items() if v == "invalid_email"}


def test_seed_is_idempotent_and_replaces_the_table(sql_url: str) -> None:
    seed_database(sql_url, CFG, FIRST, LAST)
    assert seed_database(sql_url, CFG, FIRST, FIRST) == 30
    assert _query(sql_url, "SELECT COUNT(*) FROM customers") == [(30,)]


def test_timestamps_filter_with_bound_parameters(sql_url: str) -> None:
    seed_database(sql_url, CFG, FIRST, LAST)
    since = dt.datetime(2026, 11, 6)
    rows = _query(sql_url, "SELECT COUNT(*) FROM customers WHERE updated_at >= :since", since=since)
    assert rows == [(60,)]


def test_failed_reseed_keeps_the_previous_table(
    sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_database(sql_url, CFG, FIRST, LAST)

    def broken_batches(frame: object) -> Iterator[list[dict]]:
        raise RuntimeError("boom mid-seed")
        yield []

    monkeypatch.setattr(sql_source, "_batches", broken_batches)
    with pytest.raises(RuntimeError, match="boom"):
        seed_database(sql_url, CFG, FIRST, FIRST)
    assert _query(sql_url, "SELECT COUNT(*) FROM customers") == [(210,)]
