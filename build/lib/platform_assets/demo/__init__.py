"""Demo source system: a seeded, deterministic company served as an HTTP API, a SQL database
and daily CSV drops, so the platform can be exercised end to end without real vendors."""

from platform_assets.demo.config import CHANNELS, CUSTOMER_LOOKBACK_DAYS, DemoConfig
from platform_assets.demo.drops import drop_path, write_drops
from platform_assets.demo.generator import (
    customers_between,
    customers_for_day,
    defects,
    expected_counts,
    marketing_spend_for_day,
    orders_for_day,
    payments_for_day,
)
from platform_assets.demo.process import DemoApi
from platform_assets.demo.sql_source import seed_database

__all__ = [
    "CHANNELS",
    "CUSTOMER_LOOKBACK_DAYS",
    "DemoApi",
    "DemoConfig",
    "customers_between",
    "customers_for_day",
    "defects",
    "drop_path",
    "expected_counts",
    "marketing_spend_for_day",
    "orders_for_day",
    "payments_for_day",
    "seed_database",
    "write_drops",
]
