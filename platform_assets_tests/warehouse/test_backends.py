"""Both warehouse backends: exact round trips, atomic replace, rollback, merge, DDL."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from platform_assets.contracts.model import Column
from platform_assets.warehouse.arrow import arrow_schema, to_arrow
from platform_assets.warehouse.records import ValidatedChunk
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sql import STAGE_SCHEMA
from platform_assets_tests.warehouse.dataset import (
    CUSTOMERS,
    DAY,
    EVENTS,
    OTHER_DAY,
    events_chunks,
    events_frame,
    expected_rows,
    fetch_events,
    load_events,
    utc,
)

ROWS, CHUNK = 2_500, 1_000


def quarantine(warehouse: Warehouse, asset: str) -> list[tuple]:
    return warehouse.query(
        'SELECT partition_key, run_id, record FROM "platform"."quarantine" '
        "WHERE asset = :asset ORDER BY partition_key, run_id, record",
        {"asset": asset},
    )


def test_ddl_from_contract_quotes_identifiers_and_maps_types(warehouse: Warehouse) -> None:
    warehouse.ensure_table(EVENTS)
    columns = warehouse.query(
        "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable "
        "FROM information_schema.columns WHERE table_schema = 'raw' "
        "AND table_name = 'order events' ORDER BY ordinal_position"
    )
    types = {
        "duckdb": ["BIGINT", "DATE", "TIMESTAMP WITH TIME ZONE", "DECIMAL(12,2)", "DOUBLE"],
        "postgres": ["bigint", "date", "timestamp with time zone", "numeric", "double precision"],
    }[warehouse.dialect]
    assert [c[0] for c in columns] == EVENTS.column_names
    assert [c[1] for c in columns][:5] == types
    assert columns[3][2:4] == (12, 2)
    assert [c[4] for c in columns] == ["NO", "NO", "NO", "YES", "YES", "YES", "YES"]
    warehouse.ensure_table(EVENTS)  # idempotent


def test_partition_round_trips_every_type_exactly(warehouse: Warehouse) -> None:
    load_events(warehouse.url, DAY, ROWS, CHUNK, quarantine_every=1)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    rows = quarantine(warehouse, "events")
    assert [(k, r) for k, r, _ in rows] == [(DAY.isoformat(), "test-run")] * 3


def test_partition_replace_is_idempotent_and_leaves_other_partitions(warehouse: Warehouse) -> None:
    load_events(warehouse.url, OTHER_DAY, 300, 100)
    load_events(warehouse.url, DAY, ROWS, CHUNK, version=1, quarantine_every=1)
    load_events(warehouse.url, DAY, ROWS, CHUNK, version=0, quarantine_every=1)
    load_events(warehouse.url, DAY, ROWS, CHUNK, version=0, quarantine_every=1)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert fetch_events(warehouse, OTHER_DAY) == expected_rows(OTHER_DAY, 300)
    assert warehouse.count(EVENTS, DAY) == ROWS and warehouse.count(EVENTS) == ROWS + 300
    assert len(quarantine(warehouse, "events")) == 3


def load_that_fails_after_the_last_chunk(warehouse: Warehouse) -> None:
    """A new version of DAY streamed in full, then the source fails."""
    with pytest.raises(RuntimeError, match="source failed"):
        with warehouse.partition_writer(EVENTS, DAY, "events", DAY.isoformat(), "run-2") as w:
            for chunk in events_chunks(DAY, ROWS, CHUNK, version=1, quarantine_every=1):
                w.append(chunk)
            raise RuntimeError("source failed after the last chunk")


def test_error_during_load_rolls_back_to_the_old_partition(warehouse: Warehouse) -> None:
    load_events(warehouse.url, DAY, ROWS, CHUNK, quarantine_every=1)
    before = quarantine(warehouse, "events")
    load_that_fails_after_the_last_chunk(warehouse)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert quarantine(warehouse, "events") == before


def test_rows_that_break_the_table_fail_the_load_and_keep_the_old_partition(
    warehouse: Warehouse,
) -> None:
    load_events(warehouse.url, DAY, ROWS, CHUNK)
    broken = events_frame(DAY, 10, 10, version=1)  # keys of its own: no duplicate
    broken.loc[3, "at"] = pd.NaT  # NOT NULL column
    with pytest.raises(Exception, match="(?i)null"):
        with warehouse.partition_writer(EVENTS, DAY, "events", DAY.isoformat(), "run-2") as w:
            w.append(next(events_chunks(DAY, 10, 10, version=1)))
            w.append(ValidatedChunk(valid=broken))
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)


def test_chunk_with_values_outside_the_contract_type_fails_loudly(warehouse: Warehouse) -> None:
    frame = next(events_chunks(DAY, 5, 5)).valid.assign(event_id=["1", "2", "x", "4", "5"])
    with pytest.raises(TypeError, match="event_id"):
        with warehouse.partition_writer(EVENTS, DAY, "events", DAY.isoformat(), "run") as w:
            w.append(ValidatedChunk(valid=frame))
    assert warehouse.count(EVENTS) == 0


def customers(ids: range, name: str) -> ValidatedChunk:
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(list(ids), dtype="Int64"),
            "name": pd.array([f"{name}{i}" for i in ids], dtype="str"),
            "updated_at": pd.Series([utc(2026, 3, 10, 12)] * len(ids)).astype(
                "datetime64[us, UTC]"
            ),
        }
    )
    return ValidatedChunk(valid=frame)


def fetch_customers(warehouse: Warehouse) -> list[tuple]:
    return warehouse.query('SELECT customer_id, name FROM "raw"."customers" ORDER BY 1')


def test_merge_upserts_on_the_primary_key(warehouse: Warehouse) -> None:
    with warehouse.merge_writer(CUSTOMERS, "customers", "run-1") as writer:
        writer.append(customers(range(1, 4), "a"))
        writer.append(customers(range(4, 6), "a"))
    for attempt in range(2):  # the retry of a merge changes nothing
        with warehouse.merge_writer(CUSTOMERS, "customers", "run-2") as writer:
            writer.append(customers(range(4, 8), "b"))
            bad = {"record": {"customer_id": "x"}, "reasons": [{"check": "type(int64)"}]}
            writer.append(ValidatedChunk(valid=customers(range(0), "b").valid, quarantined=[bad]))
        assert writer.stats.loaded == 4 and writer.stats.quarantined == 1, attempt
    assert fetch_customers(warehouse) == [
        (1, "a1"), (2, "a2"), (3, "a3"), (4, "b4"), (5, "b5"), (6, "b6"), (7, "b7")
    ]  # fmt: skip
    assert [(k, r) for k, r, _ in quarantine(warehouse, "customers")] == [("", "run-2")]


def test_failed_merge_changes_nothing(warehouse: Warehouse) -> None:
    with warehouse.merge_writer(CUSTOMERS, "customers", "run-1") as writer:
        writer.append(customers(range(1, 3), "a"))
    with pytest.raises(RuntimeError, match="extraction failed"):
        with warehouse.merge_writer(CUSTOMERS, "customers", "run-2") as writer:
            writer.append(customers(range(1, 5), "b"))
            raise RuntimeError("extraction failed")
    assert fetch_customers(warehouse) == [(1, "a1"), (2, "a2")]


def test_statements_on_the_writer_session_commit_with_the_rows(warehouse: Warehouse) -> None:
    with warehouse.session() as session:
        session.execute('CREATE TABLE marks (asset VARCHAR, "at" TIMESTAMPTZ)')
    for fail in (True, False):
        with pytest.raises(RuntimeError) if fail else nullcontext():
            with warehouse.merge_writer(CUSTOMERS, "customers", "run") as writer:
                writer.append(customers(range(1, 3), "a"))
                writer.session.execute(
                    "INSERT INTO marks VALUES (:asset, :at)",
                    {"asset": "customers", "at": utc(2026, 3, 10, 12)},
                )
                writer.append(customers(range(3, 5), "a"))  # streaming resumes after SQL
                if fail:
                    raise RuntimeError("crash before commit")
    assert warehouse.query('SELECT asset, "at" FROM marks') == [("customers", utc(2026, 3, 10, 12))]
    assert [r[0] for r in fetch_customers(warehouse)] == [1, 2, 3, 4]


def test_merge_refuses_partitioned_tables(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="partition_writer"):
        with warehouse.merge_writer(EVENTS, "events", "run"):
            pass


def test_replace_from_select_is_atomic_and_idempotent(warehouse: Warehouse) -> None:
    load_events(warehouse.url, DAY, ROWS, CHUNK)
    daily = replace(
        EVENTS,
        table="daily",
        layer="marts",
        columns=(
            EVENTS.column("date"),
            Column("events", "int64", "Count."),
            EVENTS.column("amount"),
        ),
        primary_key=("date",),
    )
    select = (
        'SELECT "date", count(*), sum("amount") FROM "raw"."order events" '
        'WHERE "date" = :partition GROUP BY "date"'
    )
    for _ in range(2):
        assert warehouse.replace_from_select(daily, DAY, select, {"partition": DAY}) == 1
    total = sum(r[3] for r in expected_rows(DAY, ROWS))
    assert warehouse.query('SELECT "date", events, amount FROM "marts"."daily"') == [
        (DAY, ROWS, total)
    ]
    failing = select.replace("count(*)", "count(*) + CAST('x' AS BIGINT)")
    with pytest.raises(Exception, match="(?i)conversion|invalid input"):
        warehouse.replace_from_select(daily, DAY, failing, {"partition": DAY})
    assert warehouse.count(daily) == 1


def test_arrow_schema_is_exact() -> None:
    assert arrow_schema(EVENTS) == pa.schema(
        [
            pa.field("event_id", pa.int64(), nullable=False),
            pa.field("date", pa.date32(), nullable=False),
            pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("amount", pa.decimal128(12, 2)),
            pa.field("ratio", pa.float64()),
            pa.field("flag", pa.bool_()),
            pa.field("Label", pa.string()),
        ]
    )
    table = to_arrow(next(events_chunks(DAY, 3, 3)).valid, EVENTS)
    assert table.column("amount").to_pylist() == [Decimal("0.00"), Decimal("0.01"), Decimal("0.02")]
    assert table.column("at").to_pylist()[1] == utc(2026, 3, 10, 0, 0, 1)
    assert table.column("date").to_pylist() == [DAY] * 3


def stage_tables(warehouse: Warehouse) -> list[tuple]:
    return warehouse.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = :schema",
        {"schema": STAGE_SCHEMA},
    )


def test_duckdb_stages_a_load_then_replaces_the_partition_and_drops_the_stage(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps a transaction's uncommitted rows in memory: the rows are staged, committed
    batch by batch, outside the replacing transaction; a failed load keeps the old partition
    and leaves a stage the next load replaces."""
    warehouse = Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    load_events(warehouse.url, DAY, ROWS, CHUNK, quarantine_every=1)
    assert stage_tables(warehouse) == []
    load_that_fails_after_the_last_chunk(warehouse)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert len(stage_tables(warehouse)) == 2  # the failed load's rows and quarantine rows
    load_events(warehouse.url, DAY, ROWS, CHUNK, version=0, quarantine_every=1)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert stage_tables(warehouse) == [] and len(quarantine(warehouse, "events")) == 3

    monkeypatch.setenv("PLATFORM_DUCKDB_MEMORY_LIMIT", "lots")
    with pytest.raises(ValueError, match="PLATFORM_DUCKDB_MEMORY_LIMIT='lots'"):
        warehouse.count(EVENTS)
