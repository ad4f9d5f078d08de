"""A deterministic partitioned dataset and a loader that child processes run.

The contract covers every column type, a column named ``date`` (a reserved word) as the
partition and a table name that needs quoting, so DDL, binary COPY and reads are all
exercised on identifiers and types that break naive SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from multiprocessing.connection import Connection

import numpy as np
import pandas as pd

from platform_assets.contracts.model import Column, Contract, Freshness
from platform_assets.quality.validation import ValidatedChunk
from platform_assets.warehouse.resource import Warehouse

DAY = date(2026, 3, 10)
OTHER_DAY = date(2026, 3, 11)

EVENTS = Contract(
    table="order events",
    layer="raw",
    description="Test table: every column type, quoted identifiers.",
    owner="team:test",
    columns=(
        Column("event_id", "int64", "Key.", nullable=False),
        Column("date", "date", "Partition (a reserved word).", nullable=False),
        Column("at", "timestamp", "When (UTC).", nullable=False),
        Column("amount", "decimal", "Money.", precision=12, scale=2),
        Column("ratio", "float64", "A float."),
        Column("flag", "bool", "A flag."),
        Column("Label", "string", "Mixed-case name."),
    ),
    primary_key=("event_id",),
    freshness=Freshness(timedelta(hours=26), timedelta(hours=30)),
    partition_column="date",
)
CUSTOMERS = Contract(
    table="customers",
    layer="raw",
    description="Test table for merges.",
    owner="team:test",
    columns=(
        Column("customer_id", "int64", "Key.", nullable=False),
        Column("name", "string", "Name.", nullable=False),
        Column("updated_at", "timestamp", "Last change.", nullable=False),
    ),
    primary_key=("customer_id",),
    freshness=Freshness(timedelta(hours=26), timedelta(hours=30)),
)


def events_frame(day: date, first: int, n: int, version: int = 0) -> pd.DataFrame:
    """Rows ``first .. first+n-1`` of ``day``; ``version`` changes every value but the key."""
    i = np.arange(first, first + n, dtype=np.int64)
    start = pd.Timestamp(day, tz="UTC")
    return pd.DataFrame(
        {
            "event_id": pd.array(day.toordinal() * 10_000_000 + i, dtype="Int64"),
            "date": pd.Series(pd.Timestamp(day), index=range(n)).astype("datetime64[us]"),
            "at": (start + pd.to_timedelta(i % 86_400, unit="s")).astype("datetime64[us, UTC]"),
            "amount": pd.array((i % 100_000) / 100 + version, dtype="Float64"),
            "ratio": pd.array(np.where(i % 7 == 0, np.nan, i / 3), dtype="Float64"),
            "flag": pd.array(i % 2 == version % 2, dtype="boolean"),
            "Label": pd.array([f"v{version}-{k}" for k in i.tolist()], dtype="str"),
        }
    )


def events_chunks(
    day: date, rows: int, chunk: int, version: int = 0, quarantine_every: int = 0
) -> Iterator[ValidatedChunk]:
    """The partition as validated chunks; optionally one quarantined record per chunk."""
    for first in range(0, rows, chunk):
        frame = events_frame(day, first, min(chunk, rows - first), version)
        bad = (
            [{"record": {"event_id": f"bad-{first}"}, "reasons": [{"check": "type(int64)"}]}]
            if quarantine_every and (first // chunk) % quarantine_every == 0
            else []
        )
        yield ValidatedChunk(valid=frame, quarantined=bad)


def expected_rows(day: date, rows: int, version: int = 0) -> list[tuple]:
    """What the warehouse must return for the partition, as Python values, ordered by key."""
    frame = events_frame(day, 0, rows, version)
    out = []
    for r in frame.itertuples(index=False):
        out.append(
            (
                int(r.event_id),
                r.date.date(),
                r.at.to_pydatetime().astimezone(UTC),
                None if pd.isna(r.amount) else Decimal(f"{r.amount:.2f}"),
                None if pd.isna(r.ratio) else float(r.ratio),
                bool(r.flag),
                r.Label,
            )
        )
    return out


def load_events(
    url: str,
    day: date,
    rows: int,
    chunk: int,
    version: int = 0,
    quarantine_every: int = 0,
    progress: Connection | None = None,
    run_id: str = "test-run",
    batch_bytes: int = 64 * 1024,
) -> None:
    """Replace one partition through ``Warehouse.partition_writer``, reporting each step.

    Small COPY batches (production: 4 MiB) so a few thousand rows already stream in many
    batches and kills land while the COPY is running."""
    warehouse = Warehouse(url=url, copy_batch_bytes=batch_bytes)
    with warehouse.partition_writer(EVENTS, day, "events", day.isoformat(), run_id) as writer:
        if progress is not None:
            progress.send("started")
        for n, chunk_rows in enumerate(
            events_chunks(day, rows, chunk, version, quarantine_every), 1
        ):
            writer.append(chunk_rows)
            if progress is not None:
                progress.send(f"chunk {n}")
    if progress is not None:
        progress.send("committed")


def fetch_events(warehouse: Warehouse, day: date) -> list[tuple]:
    return warehouse.query(
        'SELECT "event_id", "date", "at", "amount", "ratio", "flag", "Label" '
        'FROM "raw"."order events" WHERE "date" = :day ORDER BY "event_id"',
        {"day": day},
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
