from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.drops import drop_path, write_drops
from platform_assets.demo.generator import marketing_spend_for_day

FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
CFG = DemoConfig()


def test_writes_one_file_per_day(tmp_path: Path) -> None:
    written = write_drops(tmp_path, CFG, FIRST, LAST)
    expected = [drop_path(tmp_path, FIRST + dt.timedelta(days=k)) for k in range(3)]
    assert written == expected
    assert expected[0] == tmp_path / "marketing_spend" / "marketing_spend_2026-11-01.csv"
    assert sorted((tmp_path / "marketing_spend").iterdir()) == expected  # no temp files left


def test_content_equals_the_generator(tmp_path: Path) -> None:
    write_drops(tmp_path, CFG, FIRST, FIRST)
    read = pd.read_csv(drop_path(tmp_path, FIRST), dtype={"date": str, "channel": str})
    pd.testing.assert_frame_equal(read, marketing_spend_for_day(FIRST, CFG), check_dtype=False)


def test_rewriting_is_idempotent(tmp_path: Path) -> None:
    write_drops(tmp_path, CFG, FIRST, LAST)
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "marketing_spend").iterdir()}
    assert write_drops(tmp_path, CFG, FIRST, LAST) == []
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "marketing_spend").iterdir()} == before


def test_a_changed_file_is_replaced(tmp_path: Path) -> None:
    path = drop_path(tmp_path, FIRST)
    write_drops(tmp_path, CFG, FIRST, LAST)
    original = path.read_bytes()
    path.write_text("date,channel\n")
    assert write_drops(tmp_path, CFG, FIRST, LAST) == [path]
    assert path.read_bytes() == original


def test_rejects_reversed_range(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="before"):
        write_drops(tmp_path, CFG, LAST, FIRST)
