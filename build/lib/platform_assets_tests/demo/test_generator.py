from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from platform_assets.demo.config import CHANNELS, CUSTOMER_LOOKBACK_DAYS, DemoConfig
from platform_assets.demo.generator import (
    TABLES,
    customers_between,
    customers_for_day,
    expected_counts,
    generate,
    marketing_spend_for_day,
    orders_for_day,
    payments_for_day,
)

DAY = dt.date(2026, 11, 20)
DAYS = [DAY + dt.timedelta(days=k) for k in range(-3, 4)]
CFG = DemoConfig(orders_per_day=500, customers_per_day=12)
VALID_STATUSES = {"completed", "pending", "cancelled", "refunded"}
VALID_METHODS = {"card", "paypal", "bank_transfer", "gift_card"}


@pytest.mark.parametrize("table", TABLES)
def test_same_inputs_give_identical_frames(table: str) -> None:
    pd.testing.assert_frame_equal(generate(table, DAY, CFG), generate(table, DAY, CFG))


@pytest.mark.parametrize("table", ["customers", "orders", "payments", "marketing_spend"])
def test_different_seed_gives_different_frames(table: str) -> None:
    other = DemoConfig(seed=CFG.seed + 1, orders_per_day=500, customers_per_day=12)
    assert not generate(table, DAY, CFG).equals(generate(table, DAY, other))


def test_days_differ() -> None:
    assert not orders_for_day(DAY, CFG).equals(orders_for_day(DAY + dt.timedelta(days=1), CFG))


@pytest.mark.parametrize("day", DAYS)
def test_row_counts_match_config_and_expected_counts(day: dt.date) -> None:
    counts = expected_counts(day, CFG)
    assert counts["orders"] == len(orders_for_day(day, CFG)) == CFG.orders_per_day
    assert counts["customers"] == len(customers_for_day(day, CFG)) == CFG.customers_per_day
    assert counts["marketing_spend"] == len(marketing_spend_for_day(day, CFG)) == len(CHANNELS)
    assert counts["payments"] == len(payments_for_day(day, CFG)) > 0


def test_ids_are_unique_and_sorted() -> None:
    orders = pd.concat([orders_for_day(d, CFG) for d in DAYS])
    payments = pd.concat([payments_for_day(d, CFG) for d in DAYS])
    customers = customers_between(DAYS[0], DAYS[-1], CFG)
    for frame, key in [(orders, "order_id"), (payments, "payment_id"), (customers, "customer_id")]:
        assert frame[key].is_unique
        assert frame[key].is_monotonic_increasing
    assert customers["customer_id"].iloc[0] == 202611170001
    assert orders["order_id"].iloc[0] == 2026111700000001


def test_customer_columns() -> None:
    customers = customers_for_day(DAY, CFG)
    assert list(customers.columns) == [
        "customer_id", "email", "full_name", "country", "acquisition_channel", "signup_at",
        "updated_at",
    ]  # fmt: skip
    assert (
        customers["email"] == "user" + customers["customer_id"].astype(str) + "@example.com"
    ).all()
    assert customers["country"].str.fullmatch(r"[A-Z]{2}").all()
    assert set(customers["acquisition_channel"]) <= {*CHANNELS, "organic"}
    assert customers["signup_at"].str.fullmatch(r"2026-11-20T\d\d:\d\d:\d\dZ").all()
    assert (customers["updated_at"] == customers["signup_at"]).all()


def test_order_columns_and_ranges() -> None:
    orders = orders_for_day(DAY, CFG)
    assert list(orders.columns) == [
        "order_id", "customer_id", "order_ts", "order_date", "status", "amount_cents", "currency",
    ]  # fmt: skip
    assert orders["order_ts"].str.fullmatch(r"2026-11-20T\d\d:\d\d:\d\dZ").all()
    assert (orders["order_date"] == "2026-11-20").all()
    assert set(orders["status"]) == VALID_STATUSES
    assert orders["amount_cents"].between(500, 50_000).all()
    assert (orders["currency"] == "USD").all()
    share = orders["status"].value_counts(normalize=True)
    assert 0.65 < share["completed"] < 0.85


@pytest.mark.parametrize("day", DAYS)
def test_orders_reference_customers_who_already_signed_up(day: dt.date) -> None:
    first = day - dt.timedelta(days=CUSTOMER_LOOKBACK_DAYS)
    customers = customers_between(first, day, CFG).set_index("customer_id")
    orders = orders_for_day(day, CFG)
    assert orders["customer_id"].notna().all()
    assert orders["customer_id"].isin(customers.index).all()
    signup = pd.to_datetime(customers.loc[orders["customer_id"].astype("int64"), "signup_at"])
    assert (signup.to_numpy() <= pd.to_datetime(orders["order_ts"]).to_numpy()).all()


@pytest.mark.parametrize("day", DAYS)
def test_payments_cover_exactly_the_paid_orders(day: dt.date) -> None:
    orders = orders_for_day(day, CFG).set_index("order_id")
    payments = payments_for_day(day, CFG)
    paid = orders[orders["status"].isin(["completed", "refunded"])]
    assert list(payments["order_id"]) == list(paid.index)
    assert (payments["amount_cents"].to_numpy() == paid["amount_cents"].to_numpy()).all()
    paid_at = pd.to_datetime(payments["paid_at"])
    assert (paid_at.to_numpy() >= pd.to_datetime(paid["order_ts"]).to_numpy()).all()  # clamped
    assert (paid_at.dt.date == day).all()
    assert (payments["payment_date"] == day.isoformat()).all()
    assert set(payments["method"]) <= VALID_METHODS
    assert not set(payments["payment_id"]) & set(orders.index)


def test_marketing_spend() -> None:
    spend = marketing_spend_for_day(DAY, CFG)
    assert list(spend.columns) == ["date", "channel", "spend_usd", "impressions", "clicks"]
    assert list(spend["channel"]) == list(CHANNELS)
    assert spend["spend_usd"].between(50, 5000).all()
    assert (spend["spend_usd"] == spend["spend_usd"].round(2)).all()
    assert (spend["clicks"] <= spend["impressions"]).all()


def test_customers_between_is_inclusive_and_ordered() -> None:
    frame = customers_between(DAYS[0], DAYS[-1], CFG)
    assert len(frame) == len(DAYS) * CFG.customers_per_day
    with pytest.raises(ValueError, match="before"):
        customers_between(DAYS[-1], DAYS[0], CFG)


def test_unknown_table_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown table"):
        generate("refunds", DAY, CFG)


def test_one_million_orders_for_a_day() -> None:
    assert len(orders_for_day(DAY, DemoConfig(orders_per_day=1_000_000))) == 1_000_000
