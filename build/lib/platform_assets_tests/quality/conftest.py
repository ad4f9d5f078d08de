"""A DuckDB warehouse loaded through the real load path (validate_chunk + partition_writer).

Loading a partition this way takes milliseconds, so volume history, orphans and quarantine
scenarios are built directly rather than by running Dagster once per partition.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from hypothesis.configuration import set_hypothesis_home_dir

from platform_assets.contracts import Contract, contracts
from platform_assets.quality.checks import LoadFacts, run_checks
from platform_assets.quality.drift import FrameDrift, prepare_table
from platform_assets.quality.validation import validate_chunk
from platform_assets.warehouse.resource import Warehouse

RUN_ID = "test-run"
# Hypothesis caches source constants on disk: keep that out of the work tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "platform_assets_hypothesis")


@dataclass
class Loaded:
    loaded: int
    quarantined: int
    facts: LoadFacts


def load(
    warehouse: Warehouse,
    contract: Contract,
    frames: list[pd.DataFrame] | pd.DataFrame,
    day: date | None,
    run_id: str = RUN_ID,
) -> Loaded:
    """One materialization's load, chunk by chunk, as the raw asset does it."""
    frames = [frames] if isinstance(frames, pd.DataFrame) else frames
    evolved = prepare_table(warehouse, contract)
    drift = FrameDrift(contract)
    partition_key = day.isoformat() if day else ""
    with warehouse.partition_writer(
        contract, day, asset=contract.table, partition_key=partition_key, run_id=run_id
    ) as writer:
        for frame in frames:
            writer.append(
                drift.add(validate_chunk(frame, contract, pd.Timestamp(day) if day else None))
            )
    facts = LoadFacts(partition_key, run_id, writer.stats.loaded, drift, tuple(evolved))
    return Loaded(writer.stats.loaded, writer.stats.quarantined, facts)


def checks(
    warehouse: Warehouse, contract: Contract, day: date | None, facts: LoadFacts | None = None
) -> dict[str, dg.AssetCheckResult]:
    return {r.check_name: r for r in run_checks(warehouse, contract, contracts(), day, facts)}


def meta(result: dg.AssetCheckResult, key: str):
    """A metadata entry's plain value (JSON entries as Python objects)."""
    value = result.metadata[key].value
    return json.loads(json.dumps(value)) if isinstance(value, dict | list) else value


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
