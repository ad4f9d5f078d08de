"""The demo API's fast page encoding writes exactly the bytes json.dumps always wrote."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.encoding import (
    BLOCK_ROWS,
    EncodedRows,
    _encode_block,
    rows_json,
    stdlib_rows_json,
)
from platform_assets.demo.generator import TABLES, generate

DAY = dt.date(2026, 3, 10)
CFG = DemoConfig(seed=11, orders_per_day=BLOCK_ROWS + 500, defect_rate=0.05)


@pytest.mark.parametrize("table", TABLES)
def test_pages_are_byte_identical_to_the_stdlib(table: str) -> None:
    frame = generate(table, DAY, CFG)
    rows = EncodedRows(frame)
    n = len(frame)
    spans = [(0, 1000), (BLOCK_ROWS - 3, BLOCK_ROWS + 3), (n - 2, n + 50), (n + 1, n + 9), (3, 3)]
    for start, stop in spans:
        want = stdlib_rows_json(frame.iloc[start:stop])
        assert bytes(rows.page(start, stop)) == want
        assert bytes(rows_json(frame.iloc[start:stop])) == want


def test_text_json_dumps_would_escape_takes_the_exact_path() -> None:
    frame = pd.DataFrame(
        {
            "id": pd.array([1, None, 3], dtype="Int64"),
            "name": ['say "hi"', None, "Zoë"],
            "path": ["a\\b", "tab\there", None],
            "ok": [True, False, None],
            "spend": [1.5, float("nan"), 1e20],
            "mixed": [1, "x", None],
        }
    )
    for columns in (["id", "ok"], ["id", "name"], ["path"], ["spend"], ["mixed"]):
        part = frame[columns]
        assert bytes(EncodedRows(part).page(0, 3)) == stdlib_rows_json(part)
    assert _encode_block(frame[["id", "ok"]]) is not None  # plain: pre-encoded
    assert _encode_block(frame[["id", "name"]]) is None  # escapes needed: per page
