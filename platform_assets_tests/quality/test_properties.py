"""Property-based: no generated record crashes validation, and every row is accounted for.

Records mix plausible values with wrong types, nulls, out-of-range numbers, unicode (NUL
included), huge strings, duplicated keys and missing or extra fields. Whatever comes in,
validate_chunk either raises a SchemaDriftError naming the contract, or returns valid +
quarantined rows that add up to the input, valid rows that pass the contract's schema, a
reason for every quarantined row, and JSON PostgreSQL's jsonb accepts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_assets.contracts import Contract, contracts
from platform_assets.quality.validation import (
    SchemaDriftError,
    pandera_schema,
    validate_chunk,
)
from platform_assets.warehouse.records import reasons_json, record_json
from platform_assets_tests.conftest import TEST_DAY

DAY = pd.Timestamp(TEST_DAY)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,  # no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

huge_text = st.builds(lambda c, n: c * n, st.characters(codec="utf-8"), st.integers(1_000, 50_000))
weird = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    huge_text,
    st.just("\x00"),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.datetimes().map(lambda d: d.isoformat()),
)


def plausible(contract: Contract, name: str) -> st.SearchStrategy[Any]:
    """Mostly valid values for a column, so that valid rows occur too."""
    column = contract.column(name)
    if name == contract.partition_column:
        return st.sampled_from([TEST_DAY.isoformat(), "2026-03-09", TEST_DAY])
    if column.accepted_values:
        return st.sampled_from([*column.accepted_values, column.accepted_values[0].upper()])
    if column.type in ("int64", "float64", "decimal"):
        return st.integers(min_value=-5, max_value=10**6)
    if column.type == "timestamp":
        return st.datetimes(
            min_value=dt.datetime(2026, 3, 10), max_value=dt.datetime(2026, 3, 10, 23, 59)
        ).map(lambda d: d.isoformat() + "Z")
    if column.type == "date":
        return st.just(TEST_DAY.isoformat())
    if column.type == "bool":
        return st.sampled_from([True, False, "true", "0"])
    return st.sampled_from(["US", "user1@example.com", "Ada Brown", "", "ü"])


@st.composite
def frames(draw: st.DrawFn, contract: Contract) -> pd.DataFrame:
    names = contract.column_names
    dropped = draw(st.sets(st.sampled_from(names), max_size=1)) if draw(st.booleans()) else set()
    extra = draw(st.lists(st.sampled_from(["coupon", "Ω", "x" * 70]), max_size=2, unique=True))
    fields = [n for n in names if n not in dropped] + extra
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row = {}
        for name in fields:
            good = plausible(contract, name) if name in names else weird
            row[name] = draw(st.one_of(good, weird) if draw(st.booleans()) else good)
        rows.append(row)
    if rows and draw(st.booleans()):  # duplicated keys
        rows.append(dict(rows[draw(st.integers(0, len(rows) - 1))]))
    return pd.DataFrame(rows, columns=fields)


def assert_accounted_for(frame: pd.DataFrame, contract: Contract) -> None:
    try:
        chunk = validate_chunk(frame, contract, DAY)
    except SchemaDriftError as exc:
        assert contract.source_file in str(exc) and contract.table in str(exc)
        return
    assert len(chunk.valid) + len(chunk.quarantined) == len(frame)
    assert list(chunk.valid.columns) == contract.column_names
    pandera_schema(contract).validate(chunk.valid)  # what loads obeys the contract
    assert chunk.valid[list(contract.primary_key)].notna().all().all()
    for item in chunk.quarantined:
        assert item["reasons"], item
        for text in (record_json(item["record"]), reasons_json(item["reasons"])):
            json.loads(text)  # strict JSON: no NaN/Infinity tokens
            assert "\\u0000" not in text and "\x00" not in text


@SETTINGS
@given(st.data())
def test_any_orders_chunk_is_split_without_losing_rows(data: st.DataObject) -> None:
    contract = contracts()["orders"]
    assert_accounted_for(data.draw(frames(contract)), contract)


@SETTINGS
@given(st.data(), st.sampled_from(["ignore_extra", "evolve"]))
def test_tolerant_policies_never_lose_rows_either(data: st.DataObject, policy: str) -> None:
    base = contracts()["marketing_spend"]
    loose = {"clicks", "spend_usd"}  # nullable, so evolve may find them missing
    nullable = tuple(replace(c, nullable=c.nullable or c.name in loose) for c in base.columns)
    contract = replace(base, drift_policy=policy, columns=nullable)
    assert_accounted_for(data.draw(frames(contract)), contract)


@SETTINGS
@given(st.data())
def test_customers_with_pii_and_patterns_never_crash(data: st.DataObject) -> None:
    contract = contracts()["customers"]
    frame = data.draw(frames(contract))
    try:
        chunk = validate_chunk(frame, contract, None)
    except SchemaDriftError as exc:
        assert "customers.yaml" in str(exc)
        return
    assert len(chunk.valid) + len(chunk.quarantined) == len(frame)
