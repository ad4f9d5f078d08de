"""The partitioning every daily asset shares."""

from __future__ import annotations

from datetime import date

import dagster as dg

PARTITIONS_START = "2026-01-01"

# The latest partition is yesterday (UTC): a day is only extracted once it is complete.
daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


def partition_date(partition_key: str) -> date:
    return date.fromisoformat(partition_key)
