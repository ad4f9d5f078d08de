"""A pushed event stream: applications publish events to a broker, a consumer lands them.

The consumer (``make consume``) writes every message once into ``landing.<stream>`` (the
event id unique) with the time it arrived. Each stream here is a daily-partitioned asset
built from a day's landed events (by ``occurred_at``), parsed and validated against its
contract like any other source: quarantine with reasons, the checks, the atomic partition
replace. The contract's ``late_arrival: {window: 2h}`` says when a day is closed; a sensor
builds each day once closed and again when late events land for it. The contract's
``lag: {warn, error}`` objective raises an alert when the consumer falls behind. The stream,
its landing table and its queue share the contract's table name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.alerts.lag import build_lag_alert_sensor
from platform_assets.automation.event_sensor import build_event_sensor
from platform_assets.components.common import (
    ConfigError,
    ContractTable,
    Located,
    PlatformComponent,
    env_name,
)
from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.contracts import Contract
from platform_assets.sources.broker import EventBroker
from platform_assets.sources.events import events_frame
from platform_assets.warehouse.landed import landed_page, prepare_landing
from platform_assets.warehouse.resource import Warehouse

if TYPE_CHECKING:
    import pandas as pd


class Broker(dg.Resolvable, dg.Model):
    url_env: str = Field(
        default="PLATFORM_RABBITMQ_URL",
        description="The variable holding the AMQP URL (it may carry a password), read at run "
        "time. Unset: no broker is configured (the embedded default): days still build from "
        "whatever landed (nothing), no lag alert is raised, queue depth is unknown.",
    )


class Sensor(dg.Resolvable, dg.Model):
    interval_s: int = Field(default=60, description="Seconds between sensor ticks.")
    lookback_days: int = Field(
        default=7, description="Closed days watched for late events; older ones: backfill."
    )
    max_runs_per_tick: int = Field(
        default=10, description="Days requested per tick at most; the rest wait a tick."
    )


class Stream(ContractTable):
    page_size: int = Field(default=50_000, description="Landed events read per page.")
    sensor: Sensor = Field(
        default=Sensor(),
        description="The sensor that builds each day once closed and again for late events.",
    )


class EventStreamSource(PlatformComponent):
    """Event streams pushed through a message broker and landed by the consumer: one daily
    asset per stream, a sensor building closed days and reopening them for late events, and
    a consumer-lag alert."""

    broker: Broker = Field(
        default=Broker(), description="Where the streams' queues are (depth, lag)."
    )
    streams: list[Stream] = Field(
        min_length=1,
        description="One per stream; its contract's table names the stream, its landing "
        "table (landing.<table>) and its queue.",
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = Located(context)
        env_name(self.broker.url_env, here.where("broker.url_env"))
        assets, sensors = [], []
        for index, stream in enumerate(self.streams):
            where = f"streams[{index}]"
            contract = here.contract(stream.contract, f"{where}.contract")
            _check_contract(here, contract, where)
            assets.append(build_raw_asset(contract, _source(here, stream, contract), here.catalog))
            sensors.append(
                build_event_sensor(
                    contract,
                    here.name,
                    lookback_days=stream.sensor.lookback_days,
                    max_runs_per_tick=stream.sensor.max_runs_per_tick,
                    minimum_interval_seconds=stream.sensor.interval_s,
                )
            )
            if contract.lag is not None:
                sensors.append(build_lag_alert_sensor(contract, here.name))
        return dg.Definitions(
            assets=assets, sensors=sensors, resources={here.name: self._resource()}
        )

    def _resource(self) -> EventBroker:
        name = self.broker.url_env
        if not os.environ.get(name):
            return EventBroker(url="", url_env=name)  # none configured: the embedded default
        return EventBroker(url=dg.EnvVar(name), url_env=name)  # type: ignore[arg-type]


def _check_contract(here: Located, contract: Contract, where: str) -> None:
    missing = [
        what
        for what, ok in (
            ("a partition_column (the day of occurred_at)", contract.is_partitioned),
            ("late_arrival: {window: ...}", contract.late_arrival is not None),
            ("an event_id column as its primary key", contract.primary_key == ("event_id",)),
        )
        if not ok
    ]
    if missing:
        raise ConfigError(
            f"{here.where(where)}: {contract.source_file} is an event stream's contract and "
            f"needs {', '.join(missing)}"
        )


def _source(here: Located, stream: Stream, contract: Contract) -> RawSource:
    """Reads the day's landed events from the warehouse the asset writes to."""

    # Derived columns (the partition day) are computed from the record when it lacks them.
    sent = [c.name for c in contract.columns if c.derive is None]

    def extract(warehouse: Warehouse, request: ExtractRequest) -> Iterator[pd.DataFrame]:
        start, end = request.window
        with warehouse.session() as session:
            prepare_landing(session, contract.table)
        after, read = "", 0
        while True:
            with warehouse.session() as session:  # held per page: DuckDB admits one writer
                page = landed_page(session, contract.table, start, end, after, stream.page_size)
            if not page:
                break
            read += len(page)
            request.log.info(f"{contract.table}: {read} landed event(s) read")
            yield events_frame(page, sent)
            after = page[-1].event_id
        if read == 0:
            request.log.info(f"{contract.table}: no landed events for {start.date()}")

    return RawSource("rabbitmq", "warehouse", extract, source_tag=here.name)
