"""The benchmark's rows: the demo generator's orders for one day, the same for everyone.

Every contender loads these rows into the ``orders`` contract's table: psql as CSV, the
load stage as typed chunks, the end-to-end runs and the naive/dlt paths from the demo API.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from platform_assets.contracts import Contract, contracts
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import orders_for_day
from platform_assets.quality.validation import coerce_column
from platform_assets.warehouse.records import ValidatedChunk

DAY = date(2026, 3, 10)
SEED = 20260310
TOKEN = "bench-token"  # the demo API's token, for a throwaway server on 127.0.0.1


def orders_contract() -> Contract:
    return contracts()["orders"]


def config(rows: int) -> DemoConfig:
    return DemoConfig(seed=SEED, orders_per_day=rows, customers_per_day=500)


def source_rows(rows: int) -> pd.DataFrame:
    """The rows as the demo API serves them (timestamps and dates as ISO text)."""
    return orders_for_day(DAY, config(rows))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def typed_chunks(frame: pd.DataFrame, chunk_rows: int) -> list[ValidatedChunk]:
    """The rows as validation hands them to the loader, in chunks of ``chunk_rows``."""
    contract = orders_contract()
    typed = pd.DataFrame({c.name: coerce_column(frame[c.name], c) for c in contract.columns})
    return [
        ValidatedChunk(valid=typed.iloc[start : start + chunk_rows])
        for start in range(0, len(typed), chunk_rows)
    ]
