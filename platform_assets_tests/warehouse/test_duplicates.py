"""Duplicate keys across a whole load, on both backends: exact copies collapse to one row,
conflicting copies are all quarantined, and every extracted row is accounted for."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from platform_assets.quality.validation import validate_chunk, validation_batches
from platform_assets.warehouse.duplicates import CONFLICT_CHECK
from platform_assets.warehouse.records import ValidatedChunk
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sql import distinct_keys
from platform_assets.warehouse.writers import LoadStats
from platform_assets_tests.warehouse.dataset import (
    CUSTOMERS,
    DAY,
    EVENTS,
    events_frame,
    expected_rows,
    fetch_events,
    utc,
)

ROWS, CHUNK, BATCH = 1_000, 100, 250  # 4 validation batches: duplicates span them


def _key(row: int) -> int:
    return DAY.toordinal() * 10_000_000 + row


def _copy(row: int, **changes: object) -> pd.DataFrame:
    frame = events_frame(DAY, row, 1)
    for column, value in changes.items():
        frame[column] = pd.array([value], dtype=frame[column].dtype)
    return frame


def _extracted() -> list[pd.DataFrame]:
    """1,000 clean rows in 100-row chunks, then copies that land in later batches.

    Exact copies: row 10 once, row 30 twice (3 copies of 2 rows collapse). Conflicts: row 40
    once with another label, row 50 twice exactly and once with another amount (5 rows).
    Row 60 again with a null in a non-nullable column: quarantined by validation, so the
    clean row 60 must load (it is no duplicate of a rejected row).
    """
    chunks = [events_frame(DAY, first, CHUNK) for first in range(0, ROWS, CHUNK)]
    late = pd.concat(
        [
            _copy(10),
            _copy(30),
            _copy(30),
            _copy(40, Label="other"),
            _copy(50),
            _copy(50, amount=1.5),
            _copy(60, at=None),
        ],
        ignore_index=True,
    )
    return [*chunks[:3], late.iloc[:3], *chunks[3:], late.iloc[3:]]


def _load(warehouse: Warehouse, frames: list[pd.DataFrame]) -> LoadStats:
    with warehouse.partition_writer(EVENTS, DAY, "events", DAY.isoformat(), "run-1") as writer:
        for batch in validation_batches(frames, rows=BATCH):
            writer.append(validate_chunk(batch, EVENTS, pd.Timestamp(DAY)))
    return writer.stats


def _quarantine(warehouse: Warehouse, asset: str) -> list[tuple[dict, list[dict]]]:
    rows = warehouse.query(
        'SELECT record, reasons FROM "platform"."quarantine" WHERE asset = :asset',
        {"asset": asset},
    )
    parse = (lambda v: v) if warehouse.dialect == "postgres" else json.loads
    return [(parse(record), parse(reasons)) for record, reasons in rows]


def test_duplicates_across_batches_collapse_or_are_all_quarantined(warehouse: Warehouse) -> None:
    frames = _extracted()
    extracted = sum(len(f) for f in frames)
    stats = _load(warehouse, frames)

    assert (extracted, stats.loaded, stats.collapsed, stats.quarantined) == (1_007, 998, 3, 6)
    assert stats.extracted == extracted  # conservation: in = loaded + collapsed + quarantined
    expected = [r for r in expected_rows(DAY, ROWS) if r[0] not in (_key(40), _key(50))]
    assert fetch_events(warehouse, DAY) == expected
    assert warehouse.count(EVENTS, DAY) == 998

    conflicts = Counter()
    for record, reasons in _quarantine(warehouse, "events"):
        checks = [reason["check"] for reason in reasons]
        if checks == [CONFLICT_CHECK]:
            [reason] = reasons
            assert reason["column"] == "event_id" and reason["value"] == str(record["event_id"])
            conflicts[record["event_id"]] += 1
        else:
            assert checks == ["not_nullable"] and int(record["event_id"]) == _key(60)
    assert conflicts == {_key(40): 2, _key(50): 3}


def test_a_clean_reload_replaces_the_conflicts_of_the_previous_load(warehouse: Warehouse) -> None:
    _load(warehouse, _extracted())
    stats = _load(warehouse, [events_frame(DAY, 0, ROWS)])
    assert (stats.loaded, stats.collapsed, stats.quarantined) == (ROWS, 0, 0)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert _quarantine(warehouse, "events") == []


def _customers(*rows: tuple[int, str]) -> ValidatedChunk:
    frame = pd.DataFrame(
        {
            "customer_id": pd.array([r[0] for r in rows], dtype="Int64"),
            "name": pd.array([r[1] for r in rows], dtype="str"),
            "updated_at": pd.Series([utc(2026, 3, 1)] * len(rows)).astype("datetime64[us, UTC]"),
        }
    )
    return ValidatedChunk(valid=frame)


def test_merge_resolves_duplicates_across_chunks(warehouse: Warehouse) -> None:
    with warehouse.merge_writer(CUSTOMERS, "customers", "run-0") as writer:
        writer.append(_customers((1, "old"), (2, "old"), (3, "old")))
    with warehouse.merge_writer(CUSTOMERS, "customers", "run-1") as writer:
        writer.append(_customers((1, "new"), (2, "new-a"), (4, "new")))
        writer.append(_customers((1, "new"), (2, "new-b"), (4, "new"), (4, "new")))
    stats = writer.stats
    assert (stats.loaded, stats.collapsed, stats.quarantined) == (2, 3, 2)
    rows = warehouse.query('SELECT customer_id, name FROM "raw"."customers" ORDER BY 1')
    # key 2 came twice with different names: both quarantined, the stored row is kept
    assert rows == [(1, "new"), (2, "old"), (3, "old"), (4, "new")]
    names = sorted(record["name"] for record, _ in _quarantine(warehouse, "customers"))
    assert names == ["new-a", "new-b"]


def test_replacing_an_unpartitioned_table_resolves_duplicates(warehouse: Warehouse) -> None:
    with warehouse.partition_writer(CUSTOMERS, None, "customers", "", "run-0") as writer:
        writer.append(_customers((1, "a"), (2, "b"), (3, "c")))
    with warehouse.partition_writer(CUSTOMERS, None, "customers", "", "run-1") as writer:
        writer.append(_customers((1, "a"), (2, "b")))
        writer.append(_customers((1, "a"), (2, "B"), (5, "e")))
    stats = writer.stats
    assert (stats.loaded, stats.collapsed, stats.quarantined, stats.extracted) == (2, 1, 2, 5)
    rows = warehouse.query('SELECT customer_id, name FROM "raw"."customers" ORDER BY 1')
    assert rows == [(1, "a"), (5, "e")]  # the table is replaced: key 2 conflicted, 3 is gone
    names = sorted(record["name"] for record, _ in _quarantine(warehouse, "customers"))
    assert names == ["B", "b"]


@pytest.mark.parametrize(
    ("rows", "repeated"),
    [
        ([(1, "a"), (1, "b"), (2, "a")], 0),
        ([(1, "a"), (1, "a"), (2, "a")], 1),
        ([(1, None), (1, None), (2, None)], 1),  # NULL fields compare equal, as in GROUP BY
        ([(None, None), (None, None)], 1),
        ([(None, None), (1, None)], 0),
    ],
)
def test_the_distinct_key_count_agrees_with_the_group_by(
    warehouse: Warehouse, rows: list[tuple], repeated: int
) -> None:
    """The loads and the primary-key gate only group keys when ``distinct_keys`` counts fewer
    keys than rows: it must never count all rows distinct where GROUP BY finds a repeat."""
    warehouse.query("CREATE TABLE k (a BIGINT, b VARCHAR)")
    for a, b in rows:
        warehouse.query("INSERT INTO k VALUES (:a, :b)", {"a": a, "b": b})
    [(total, distinct)] = warehouse.query(f"SELECT count(*), {distinct_keys(['a', 'b'])} FROM k")  # noqa: S608
    [(grouped,)] = warehouse.query(
        "SELECT count(*) FROM (SELECT 1 FROM k GROUP BY a, b HAVING count(*) > 1) AS d"
    )
    assert grouped == repeated
    assert (total == distinct) == (repeated == 0)
    [(single,)] = warehouse.query(f"SELECT {distinct_keys(['b'])} FROM k")  # noqa: S608
    assert single == len({b for _, b in rows if b is not None})  # NULL is no key value
