"""A file-drop source: CSV files a partner writes into a landing directory, one per day.

Each table gets its asset and a sensor that loads every new, complete, well-formed file into
its day's partition once, and moves malformed files aside with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.automation.drop_sensor import build_drop_sensor
from platform_assets.components.common import (
    ConfigError,
    ContractTable,
    Located,
    PlatformComponent,
)
from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.sources.files import CsvDialect, DropPattern, LandingDirectory

if TYPE_CHECKING:
    import pandas as pd


class Dialect(dg.Resolvable, dg.Model):
    delimiter: str = Field(default=",")
    quotechar: str = Field(default='"')
    encoding: str = Field(default="utf-8")


class Sensor(dg.Resolvable, dg.Model):
    min_age_s: float = Field(default=5.0, description="A file must be this old to load.")
    interval_s: int = Field(default=30, description="Seconds between sensor ticks.")
    lookback_days: int = Field(
        default=7, description="Older files are recorded, not loaded (backfill them)."
    )
    max_runs_per_tick: int = Field(default=10)


class Table(ContractTable):
    pattern: str | None = Field(
        default=None,
        description="Where a day's file lands, relative to landing_dir, with {date} "
        "(YYYY-MM-DD) in the file name; default <table>/<table>_{date}.csv.",
    )
    dialect: Dialect = Dialect()
    sensor: Sensor = Sensor()


class FileDropSource(PlatformComponent):
    """A landing directory and the daily CSV drops read from it."""

    landing_dir: str = Field(description="The directory files land in.")
    tables: list[Table] = Field(min_length=1)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = Located(context)
        assets, sensors = [], []
        for index, table in enumerate(self.tables):
            contract = here.contract(table.contract, f"tables[{index}].contract")
            if not contract.is_partitioned:
                raise ConfigError(
                    f"{here.where(f'tables[{index}]')}: a drop is one file per day; "
                    f"{contract.source_file} needs a partition_column"
                )
            try:
                pattern = DropPattern(table.pattern) if table.pattern else DropPattern.default(
                    contract.table
                )  # fmt: skip
            except ValueError as exc:
                raise ConfigError(f"{here.where(f'tables[{index}].pattern')}: {exc}") from None
            dialect = CsvDialect(**table.dialect.model_dump())
            assets.append(build_raw_asset(contract, _source(here, pattern, dialect), here.catalog))
            sensors.append(
                build_drop_sensor(
                    contract,
                    here.name,
                    pattern,
                    dialect,
                    min_age_s=table.sensor.min_age_s,
                    max_runs_per_tick=table.sensor.max_runs_per_tick,
                    minimum_interval_seconds=table.sensor.interval_s,
                    lookback_days=table.sensor.lookback_days,
                )
            )
        resources = {here.name: LandingDirectory(path=self.landing_dir)}
        return dg.Definitions(assets=assets, sensors=sensors, resources=resources)


def _source(here: Located, pattern: DropPattern, dialect: CsvDialect) -> RawSource:
    def extract(landing: LandingDirectory, request: ExtractRequest) -> Iterator[pd.DataFrame]:
        assert request.day is not None  # drops are partitioned (checked when loading)
        return landing.csv_chunks(pattern.relative_path(request.day), dialect)

    def provenance(landing: LandingDirectory, request: ExtractRequest) -> dict[str, str]:
        assert request.day is not None
        return landing.provenance(pattern.relative_path(request.day))

    return RawSource("csv", here.name, extract, source_tag=here.name, provenance=provenance)
