"""The drift and defect corpus at the validation step: what is raised, loaded and quarantined."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from platform_assets.contracts import Column, Contract, contracts
from platform_assets.contracts.model import Derivation
from platform_assets.contracts.types import TEXT_GRAMMAR
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import marketing_spend_for_day, orders_for_day
from platform_assets.quality.derive import derive_columns
from platform_assets.quality.drift import FrameDrift, tolerated
from platform_assets.quality.validation import (
    SchemaDriftError,
    pandera_schema,
    validate_chunk,
    warm_up,
)
from platform_assets.warehouse.records import record_json
from platform_assets_tests.conftest import TEST_DAY

ORDERS = contracts()["orders"]
DAY = pd.Timestamp(TEST_DAY)
CFG = DemoConfig(seed=11, orders_per_day=20, customers_per_day=12, defect_rate=0.0)


def orders() -> pd.DataFrame:
    """Twenty clean orders as the API delivers them, as Python objects (any value fits)."""
    return orders_for_day(TEST_DAY, CFG).astype(object)


def reasons_by_key(chunk) -> dict:
    return {
        q["record"]["order_id"]: [(r["column"], r["check"]) for r in q["reasons"]]
        for q in chunk.quarantined
    }


def with_policy(contract: Contract, policy: str) -> Contract:
    return replace(contract, drift_policy=policy)


def test_extra_column_fails_loudly_under_policy_fail() -> None:
    frame = orders().assign(coupon="SPRING")
    with pytest.raises(SchemaDriftError) as error:
        validate_chunk(frame, ORDERS, DAY)
    message = str(error.value)
    assert "unexpected columns ['coupon']" in message
    assert "orders.yaml" in message and "drift_policy: fail" in message


@pytest.mark.parametrize("policy", ["ignore_extra", "evolve"])
def test_extra_column_is_dropped_and_reported_under_tolerant_policies(policy: str) -> None:
    contract = with_policy(ORDERS, policy)
    drift = FrameDrift(contract)
    chunk = drift.add(validate_chunk(orders().assign(coupon="SPRING"), contract, DAY))
    assert len(chunk.valid) == 20 and not chunk.quarantined
    assert list(chunk.valid.columns) == contract.column_names
    [finding] = drift.findings()
    assert (finding["kind"], finding["column"]) == ("added", "coupon")
    assert tolerated(contract, finding)


def test_missing_column_fails_and_names_it() -> None:
    with pytest.raises(SchemaDriftError, match=r"missing columns \['currency'\]"):
        validate_chunk(orders().drop(columns=["currency"]), ORDERS, DAY)


def test_missing_nullable_column_loads_as_null_under_evolve_only() -> None:
    columns = tuple(
        replace(c, nullable=True) if c.name == "currency" else c for c in ORDERS.columns
    )
    contract = replace(ORDERS, columns=columns, drift_policy="evolve")
    drift = FrameDrift(contract)
    chunk = drift.add(validate_chunk(orders().drop(columns=["currency"]), contract, DAY))
    assert len(chunk.valid) == 20 and chunk.valid["currency"].isna().all()
    assert [(f["kind"], f["column"], tolerated(contract, f)) for f in drift.findings()] == [
        ("removed", "currency", True)
    ]
    with pytest.raises(SchemaDriftError, match=r"missing columns \['status'\]"):
        validate_chunk(orders().drop(columns=["status"]), contract, DAY)  # not nullable


def test_renamed_column_names_both_sides() -> None:
    frame = orders().rename(columns={"customer_id": "client_id"})
    with pytest.raises(SchemaDriftError) as error:
        validate_chunk(frame, with_policy(ORDERS, "ignore_extra"), DAY)
    message = str(error.value)
    assert "missing columns ['customer_id']" in message
    assert "unexpected columns ['client_id']" in message and "renamed" in message


def test_type_change_quarantines_every_row_and_is_reported_as_drift() -> None:
    frame = orders()
    frame["amount_cents"] = [f"{v / 100:.2f} USD" for v in frame["amount_cents"]]
    drift = FrameDrift(ORDERS)
    chunk = drift.add(validate_chunk(frame, ORDERS, DAY))
    assert len(chunk.valid) == 0 and len(chunk.quarantined) == 20
    assert set(map(tuple, sum(reasons_by_key(chunk).values(), []))) == {
        ("amount_cents", "type(int64)")
    }
    [finding] = drift.findings()
    assert finding["kind"] == "type_changed" and finding["column"] == "amount_cents"
    assert finding["detail"] == "all 20 values fail type int64"
    assert not tolerated(with_policy(ORDERS, "evolve"), finding)  # never tolerated


def test_nulls_in_the_key_are_quarantined() -> None:
    frame = orders()
    frame.loc[[3, 7], "order_id"] = None
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert len(chunk.valid) == 18
    assert reasons_by_key(chunk) == {None: [("order_id", "not_nullable")]}
    assert [q["reasons"] for q in chunk.quarantined][0] == [
        {"column": "order_id", "check": "not_nullable", "value": "<NA>"}
    ]
    assert len(chunk.quarantined) == 2


def test_duplicate_keys_are_left_to_the_load() -> None:
    """A batch cannot see the partition's other batches: the warehouse resolves duplicate
    keys over the whole load (platform_assets_tests/warehouse/test_duplicates.py)."""
    frame = pd.concat([orders(), orders().iloc[[4, 9]]], ignore_index=True)
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert len(chunk.valid) == 22 and chunk.quarantined == []


def test_out_of_range_and_unknown_values_are_quarantined_with_every_reason() -> None:
    frame = orders()
    frame.loc[2, "amount_cents"] = -5
    frame.loc[2, "status"] = "lost"
    frame.loc[5, "currency"] = "EUR"
    chunk = validate_chunk(frame, ORDERS, DAY)
    ids = list(frame["order_id"])
    assert reasons_by_key(chunk) == {
        ids[2]: [("status", "isin(['completed', 'pending', 'cancelled', 'refunded'])"),
                 ("amount_cents", "greater_than_or_equal_to(0)")],
        ids[5]: [("currency", "isin(['USD'])")],
    }  # fmt: skip
    [amount] = [r for r in chunk.quarantined[0]["reasons"] if r["column"] == "amount_cents"]
    assert amount["value"] == "-5"


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("amount_cents", True, "type(int64)"),  # a boolean is not a number
        ("amount_cents", 12.5, "type(int64)"),
        ("amount_cents", 2**64, "type(int64)"),  # beyond int64
        ("amount_cents", [1], "type(int64)"),
        ("order_ts", 5, "type(timestamp)"),  # a number is not a timestamp
        ("order_ts", "yesterday", "type(timestamp)"),
        ("status", 7, "type(string)"),
        ("status", "a\x00b", "type(string)"),  # PostgreSQL text cannot hold NUL
    ],
)
def test_strict_coercion_quarantines_values_of_the_wrong_type(column, value, check) -> None:
    frame = orders()
    frame.at[0, column] = value
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert len(chunk.valid) == 19
    assert [(r["column"], r["check"]) for r in chunk.quarantined[0]["reasons"]] == [(column, check)]
    assert "\\u0000" not in record_json(chunk.quarantined[0]["record"])


def test_integral_values_of_any_spelling_load_exactly() -> None:
    frame = orders()
    big = 2026031099999999  # above 2**53: must not pass through a float
    frame.loc[0:4, "amount_cents"] = ["1200", 1300.0, "+1400", 1500, np.int64(1600)]
    frame.at[4, "order_id"] = str(big)
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert not chunk.quarantined
    assert list(chunk.valid["amount_cents"].iloc[:5]) == [1200, 1300, 1400, 1500, 1600]
    assert chunk.valid["order_id"].iloc[4] == big


INT_TEXT = "int64 text: [+-]?[0-9]+"
SPACES = "no whitespace around the value (trim: false)"
DATE_TEXT = "date text: [0-9]{4}-[0-9]{2}-[0-9]{2}"
SILENT_COERCIONS = [
    ("amount_cents", "1e7", INT_TEXT),
    ("amount_cents", "5.0", INT_TEXT),
    ("amount_cents", "10_000_000", INT_TEXT),
    ("amount_cents", "\u0661\u0662", INT_TEXT),  # Arabic-Indic digits
    ("amount_cents", "\uff11\uff12", INT_TEXT),  # fullwidth digits
    ("amount_cents", " 1400 ", SPACES),
    ("amount_cents", "1400\n", SPACES),
    ("amount_cents", "inf", INT_TEXT),
    ("amount_cents", float("inf"), "finite numbers only (allow_non_finite: false)"),
    ("amount_cents", "9" * 20, "int64: within -2**63 .. 2**63-1"),
    ("order_date", "2026-03-10T05:00:00", DATE_TEXT),  # a time of day is not truncated
    ("order_date", pd.Timestamp("2026-03-10 05:00", tz="UTC"),
     "date: no time of day (a datetime at midnight UTC at most)"),
    ("order_date", " 2026-03-10", SPACES),
    ("order_date", "2026-02-30", "date: a real calendar day"),
    ("order_date", "\uff12\uff10\uff12\uff16-03-10", DATE_TEXT),
    ("order_ts", "2026-03-10T05:06:07Z ", SPACES),
    ("order_ts", "2026-03-10", "timestamp text: " + TEXT_GRAMMAR["timestamp"]),
]  # fmt: skip


@pytest.mark.parametrize(("column", "value", "rule"), SILENT_COERCIONS)
def test_text_is_read_by_the_type_grammar_or_quarantined_naming_the_rule(
    column: str, value, rule: str
) -> None:
    frame = orders()
    frame.at[0, column] = value
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert len(chunk.valid) == 19
    reason, *others = chunk.quarantined[0]["reasons"]
    check = f"type({ORDERS.column(column).type})"
    shown = value if isinstance(value, str) else repr(value)
    assert reason == {"column": column, "check": check, "value": shown, "rule": rule}
    # An unreadable partition day is no day of this partition either (as before).
    expected = [("order_date", "in_partition(2026-03-10)")] if column == "order_date" else []
    assert [(r["column"], r["check"]) for r in others] == expected


def spend() -> pd.DataFrame:
    return marketing_spend_for_day(TEST_DAY, CFG).astype(object)


SPEND = contracts()["marketing_spend"]
FINITE = "finite numbers only (allow_non_finite: false)"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("inf", FINITE),
        ("-Infinity", FINITE),
        (float("inf"), FINITE),
        ("1e999", FINITE),  # overflows to inf
        ("nan", "NaN is not a value: send null"),
        ("\u0661\u0662", "float64 text: " + TEXT_GRAMMAR["float64"]),
        ("1,5", "float64 text: " + TEXT_GRAMMAR["float64"]),
        (" 2.5", SPACES),
    ],
)
def test_non_finite_and_foreign_numbers_never_pass_a_float_column(value, rule: str) -> None:
    """``inf`` used to pass ``spend_usd >= 0`` and every gate, then crash staging."""
    frame = spend()
    frame.at[0, "spend_usd"] = value
    chunk = validate_chunk(frame, SPEND, DAY)
    assert len(chunk.valid) == len(frame) - 1
    [reason] = chunk.quarantined[0]["reasons"]
    assert (reason["column"], reason["check"], reason["rule"]) == (
        "spend_usd",
        "type(float64)",
        rule,
    )


def test_typed_numbers_and_float_spellings_keep_loading() -> None:
    loaded = []
    for spellings in (["12.5", "1e3", ".5", "-0", 7], [2.25, "+3.", "1E-2", 10**3, "0"]):
        frame = spend().assign(spend_usd=spellings)
        chunk = validate_chunk(frame, SPEND, DAY)
        assert not chunk.quarantined
        loaded += list(chunk.valid["spend_usd"])
    assert loaded == [12.5, 1000.0, 0.5, 0.0, 7.0, 2.25, 3.0, 0.01, 1000.0, 0.0]


def test_allow_non_finite_loads_infinity_but_never_nan() -> None:
    loose = replace(SPEND.column("spend_usd"), allow_non_finite=True)
    contract = replace(
        SPEND, columns=tuple(loose if c.name == "spend_usd" else c for c in SPEND.columns)
    )
    frame = spend()
    frame.loc[0:2, "spend_usd"] = ["Infinity", float("inf"), "nan"]
    chunk = validate_chunk(frame, contract, DAY)
    assert list(chunk.valid["spend_usd"].iloc[:2]) == [float("inf"), float("inf")]
    [nan] = chunk.quarantined
    assert nan["reasons"][0]["rule"] == "NaN is not a value: send null"


def test_trim_true_strips_whitespace_before_parsing_every_type() -> None:
    columns = tuple(replace(c, trim=True) for c in ORDERS.columns)
    contract = replace(ORDERS, columns=columns)
    frame = orders()
    frame.at[0, "amount_cents"] = " 1400 "
    frame.at[0, "order_date"] = "\t2026-03-10 "
    frame.at[0, "order_ts"] = " 2026-03-10T05:06:07Z"
    frame.at[0, "status"] = " completed "
    chunk = validate_chunk(frame, contract, DAY)
    assert not chunk.quarantined
    row = chunk.valid.iloc[0]
    assert (row["amount_cents"], row["status"]) == (1400, "completed")
    assert row["order_date"] == DAY
    assert row["order_ts"] == pd.Timestamp("2026-03-10T05:06:07Z")
    untrimmed = validate_chunk(frame, ORDERS, DAY)  # the default keeps them apart
    assert [(r["column"], r.get("rule")) for r in untrimmed.quarantined[0]["reasons"]] == [
        ("order_ts", SPACES), ("order_date", SPACES), ("order_date", None),
        ("status", None), ("amount_cents", SPACES),
    ]  # fmt: skip


def test_decimal_values_beyond_the_column_precision_are_quarantined() -> None:
    contract = replace(
        ORDERS,
        columns=(
            *ORDERS.columns,
            Column("tax_usd", "decimal", "Tax.", nullable=True, precision=6, scale=2),
        ),
    )
    frame = orders().assign(tax_usd=1.5)
    frame.at[0, "tax_usd"] = 10_000.0  # DECIMAL(6,2) holds up to 9999.99
    chunk = validate_chunk(frame, contract, DAY)
    assert [(r["column"], r["check"]) for r in chunk.quarantined[0]["reasons"]] == [
        ("tax_usd", "type(decimal(6,2))")
    ]


def test_rows_outside_the_partition_are_quarantined() -> None:
    frame = orders()
    frame.at[1, "order_date"] = "2026-03-09"
    chunk = validate_chunk(frame, ORDERS, DAY)
    assert [(r["column"], r["check"]) for r in chunk.quarantined[0]["reasons"]] == [
        ("order_date", "in_partition(2026-03-10)")
    ]


def test_every_rule_runs_on_every_row_and_reasons_merge_per_row() -> None:
    """A row outside the partition, or with an unparseable value, keeps its other reasons
    (in contract column order); an unparseable value is not reported null as well."""
    frame = orders()
    frame.at[1, "order_date"] = "2026-03-09"
    frame.at[1, "status"] = "lost"
    frame.at[1, "amount_cents"] = -5
    frame.at[1, "currency"] = 7
    frame.at[4, "amount_cents"] = "twelve"
    frame.at[4, "status"] = "lost"
    chunk = validate_chunk(frame, ORDERS, DAY)
    ids = list(frame["order_id"])
    status = "isin(['completed', 'pending', 'cancelled', 'refunded'])"
    assert reasons_by_key(chunk) == {
        ids[1]: [("order_date", "in_partition(2026-03-10)"), ("status", status),
                 ("amount_cents", "greater_than_or_equal_to(0)"), ("currency", "type(string)")],
        ids[4]: [("status", status), ("amount_cents", "type(int64)")],
    }  # fmt: skip
    assert len(chunk.valid) == 18


def test_warm_up_builds_every_contract_schema_once():
    """What a Celery worker runs before forking: every schema built (and cached) and
    validated once, so pool processes inherit them instead of building them per step."""
    pandera_schema.cache_clear()
    warm_up()
    assert pandera_schema.cache_info().currsize == len(contracts())
    warm_up()
    assert pandera_schema.cache_info().misses == len(contracts())


def test_a_derived_utc_date_reads_its_source_by_the_timestamp_grammar() -> None:
    """``utc_date(order_ts)`` cuts a timestamp to its UTC day: the time of day the date
    grammar refuses in a sent date is what the derivation starts from."""
    derived = replace(ORDERS.column("order_date"), derive=Derivation("utc_date", "order_ts"))
    contract = replace(
        ORDERS, columns=tuple(derived if c.name == "order_date" else c for c in ORDERS.columns)
    )
    frame = orders().drop(columns=["order_date"])
    frame.loc[0:2, "order_ts"] = ["2026-03-09T23:30:00-03:00", "2026-03-10 00:00", "noon"]
    got = derive_columns(frame, contract)["order_date"]
    assert list(got.iloc[:4]) == ["2026-03-10", "2026-03-10", None, "2026-03-10"]
    chunk = validate_chunk(derive_columns(frame, contract), contract, DAY)
    assert len(chunk.valid) == 19
