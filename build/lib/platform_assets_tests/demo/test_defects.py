from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandas as pd
import pytest

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import (
    DEFECT_KINDS,
    TABLES,
    defects,
    expected_counts,
    generate,
)

DAY = dt.date(2026, 11, 20)
DIRTY = DemoConfig(orders_per_day=400, customers_per_day=40, defect_rate=0.2)
CLEAN = DemoConfig(orders_per_day=400, customers_per_day=40, defect_rate=0.0)
_KEYS = {
    "customers": "customer_id",
    "orders": "order_id",
    "payments": "payment_id",
    "marketing_spend": "channel",
}


_CHECKS: dict[str, dict[str, Callable[[pd.DataFrame], pd.Series]]] = {
    "orders": {
        "negative_amount": lambda f: f["amount_cents"] < 0,
        "unknown_status": lambda f: f["status"] == "lost",
        "null_customer": lambda f: f["customer_id"].isna(),
    },
    "payments": {
        "non_positive_amount": lambda f: f["amount_cents"] <= 0,
        "unknown_method": lambda f: f["method"] == "cash_in_envelope",
    },
    "customers": {
        "invalid_email": lambda f: ~f["email"].str.contains("@"),
        "null_country": lambda f: f["country"].isna(),
    },
    "marketing_spend": {
        "negative_spend": lambda f: f["spend_usd"] < 0,
        "clicks_exceed_impressions": lambda f: f["clicks"] > f["impressions"],
    },
}


def _symptoms(table: str, frame: pd.DataFrame) -> dict[object, str]:
    """Which defect each bad row visibly has, judged from the data alone."""
    found: dict[object, str] = {}
    for kind, check in _CHECKS[table].items():
        for key in frame.loc[check(frame).to_numpy(dtype=bool), _KEYS[table]]:
            assert key not in found, f"{table} row {key} has two defects"
            found[key] = kind
    return found


@pytest.mark.parametrize("table", TABLES)
def test_exact_defects_with_named_kinds(table: str) -> None:
    frame = generate(table, DAY, DIRTY)
    found = defects(table, DAY, DIRTY)
    assert len(found) == round(len(frame) * DIRTY.defect_rate)
    assert set(found.values()) <= set(DEFECT_KINDS[table])
    assert _symptoms(table, frame) == found


@pytest.mark.parametrize("table", ["orders", "payments"])
def test_every_kind_occurs(table: str) -> None:
    assert set(defects(table, DAY, DIRTY).values()) == set(DEFECT_KINDS[table])


@pytest.mark.parametrize("table", TABLES)
def test_no_defects_at_rate_zero(table: str) -> None:
    assert defects(table, DAY, CLEAN) == {}
    assert _symptoms(table, generate(table, DAY, CLEAN)) == {}


def test_every_row_defective_at_rate_one() -> None:
    cfg = DemoConfig(orders_per_day=50, defect_rate=1.0)
    assert len(defects("orders", DAY, cfg)) == 50


def test_defects_do_not_change_counts_or_clean_rows() -> None:
    assert expected_counts(DAY, DIRTY) == expected_counts(DAY, CLEAN)
    for table in TABLES:
        dirty = generate(table, DAY, DIRTY).set_index(_KEYS[table])
        clean = generate(table, DAY, CLEAN).set_index(_KEYS[table])
        assert list(dirty.index) == list(clean.index)
        untouched = ~dirty.index.isin(list(defects(table, DAY, DIRTY)))
        pd.testing.assert_frame_equal(dirty[untouched], clean[untouched])
