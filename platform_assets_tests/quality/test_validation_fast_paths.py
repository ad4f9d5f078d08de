"""The vectorized coercion gives exactly the per-value answers, and batching keeps drift exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from platform_assets.contracts import contracts
from platform_assets.quality.validation import (
    SchemaDriftError,
    _as_int,
    coerce_column,
    pandera_schema,
    validate_chunk,
    validation_batches,
)
from platform_assets_tests.conftest import TEST_DAY

ORDERS = contracts()["orders"]
ODD_VALUES = [
    None, True, False, np.True_, 0, -5, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**70,
    np.int64(7), np.uint64(2**64 - 1), 1.0, 1.5, float("nan"), float("inf"), -0.0, 9.3e18,
    Decimal("4"), Decimal("4.5"), "12", " 13 ", "1e3", "1.5", "abc", "", "9" * 70, "\x00",
    [1], {"a": 1}, dt.date(2026, 3, 10), pd.NA, pd.NaT,
]  # fmt: skip


def per_value(values: list) -> list:
    """The reference: ``_as_int`` value by value, as validation did before vectorizing."""
    return [None if pd.isna(v) is True else _as_int(v) for v in values]


@pytest.mark.parametrize(
    "values",
    [
        ODD_VALUES,
        [1, 2, 3, None],  # clean ints: the bulk path
        [1, 2**63, 3],  # one overflow sends the whole column value by value
        [1, True, 3],  # a bool among ints is no int
        [1, "2", 3.0],
    ],
)
def test_int_coercion_matches_the_per_value_answers(values: list) -> None:
    got = coerce_column(pd.Series(values, dtype=object), ORDERS.column("amount_cents"))
    assert got.dtype == "Int64"
    assert [None if v is pd.NA else v for v in got.tolist()] == per_value(values)


def test_float_columns_convert_only_exact_int64_values() -> None:
    values = [1.0, 2.5, float("nan"), float("inf"), 2.0**63, -(2.0**63), 9.007199254740993e15]
    got = coerce_column(pd.Series(values, dtype="float64"), ORDERS.column("amount_cents"))
    assert [None if v is pd.NA else v for v in got.tolist()] == per_value(values)


def test_the_pandera_schema_is_built_once_per_contract() -> None:
    assert pandera_schema(ORDERS) is pandera_schema(ORDERS)


def orders(first: int, rows: int) -> pd.DataFrame:
    ids = range(first, first + rows)
    return pd.DataFrame(
        {
            "order_id": list(ids),
            "customer_id": [1] * rows,
            "order_ts": [f"{TEST_DAY.isoformat()}T00:00:00Z"] * rows,
            "order_date": [TEST_DAY.isoformat()] * rows,
            "status": ["completed"] * rows,
            "amount_cents": [100] * rows,
            "currency": ["USD"] * rows,
        },
        dtype=object,
    )


def test_batches_join_chunks_in_order_up_to_the_row_limit() -> None:
    chunks = [orders(i * 10, 10) for i in range(7)]
    batches = list(validation_batches(iter(chunks), rows=25))
    assert [len(b) for b in batches] == [30, 30, 10]
    joined = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(joined, pd.concat(chunks, ignore_index=True))
    assert list(validation_batches(iter([]), rows=25)) == []


def test_a_chunk_of_another_shape_starts_a_batch_so_drift_stays_exact() -> None:
    drifted = orders(100, 5).drop(columns="currency")
    retyped = orders(200, 5).astype({"amount_cents": "int64"})
    chunks = [orders(0, 5), drifted, orders(105, 5), retyped]
    batches = list(validation_batches(iter(chunks), rows=1_000))
    assert [len(b) for b in batches] == [5, 5, 5, 5]
    with pytest.raises(SchemaDriftError, match=r"missing columns \['currency'\]"):
        validate_chunk(batches[1], ORDERS, pd.Timestamp(TEST_DAY))


def test_batch_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(validation_batches(iter([orders(0, 1)]), rows=0))


TEXTS = {
    "amount_cents": ["12", "+3", " 4", "1e3", "5.0", "\u0661", "", "x"],
    "order_ts": ["2026-03-10T01:02:03Z", "2026-03-10 01:02", "2026-03-10", " 2026-03-10T01:02Z"],
    "order_date": ["2026-03-10", "2026-03-10T00:00:00", "2026-02-30", "\uff12026-03-10", ""],
}
SPEND = contracts()["marketing_spend"].column("spend_usd")


@pytest.mark.parametrize(
    ("column", "texts"),
    [
        *[(ORDERS.column(name), texts) for name, texts in TEXTS.items()],
        (SPEND, ["1.5", ".5", "5.", "1e3", "inf", "nan", " 1", "1,5", "\u0661", "1e999"]),
    ],
    ids=[*TEXTS, "spend_usd"],
)
def test_all_text_columns_and_mixed_columns_get_the_same_answers(column, texts) -> None:
    """The all-text path (one Arrow regex over the column), the mixed path (text values
    picked out first) and Arrow string columns agree value by value."""
    all_text = coerce_column(pd.Series([*texts, None], dtype=object), column)
    mixed = coerce_column(pd.Series([*texts, None, [1]], dtype=object), column)
    arrow = coerce_column(pd.Series([*texts, None], dtype="str"), column)
    assert all_text.tolist() == mixed.tolist()[:-1] == arrow.tolist()
    assert all_text.notna().sum() == {"amount_cents": 2, "order_ts": 2, "order_date": 1}.get(
        column.name, 4
    )
