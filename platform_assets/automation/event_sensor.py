"""A sensor that builds a pushed stream's days: once a day closes, and again for late events.

Rules, per day from ``lookback_days`` before the latest closed day up to it:

* A day is closed once its end plus the contract's ``late_arrival.window`` has passed; a
  day that is not closed is never requested (its events are still arriving).
* A closed day is requested once (with whatever landed, zero events included: the
  partition then says so, and its checks judge it).
* Late events reopen their day: the sensor compares the day's landed events now with the
  number it last requested the day for (kept in the cursor) and requests the day again
  when they differ. Landing only ever adds events (the event id is unique), so a changed
  count is exactly "something arrived since", whatever the clocks say; a run already
  built from the same count is never requested twice (run key ``<table>/<day>/<count>``).
* A day the sensor has not seen yet (a first start, a day beyond the cursor) that is
  already materialized from the same number of events (``rows_extracted``, e.g. by the
  daily schedule) is recorded without a run.
* With no broker configured (the embedded default) the sensor skips without opening the
  warehouse: nothing can land, the daily schedule builds each (empty) day, and a sensor
  opening the embedded DuckDB file from the daemon would contend with running steps for it.
* At most ``max_runs_per_tick`` runs per tick; the rest wait for the next tick. Days older
  than the look-back leave the cursor: a late event for them needs a backfill.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start

import dagster as dg

from platform_assets.automation.partitions import PARTITIONS_START
from platform_assets.contracts import Contract
from platform_assets.sources.broker import EventBroker
from platform_assets.warehouse.landed import LandedDay, landed_day, prepare_landing

EXTRACTED_KEY = "rows_extracted"  # metadata of every source materialization
Clock = Callable[[], float]


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, day_start(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def latest_closed_day(window: timedelta, now: float) -> date:
    """The newest day whose end plus the late-arrival window has passed."""
    return (datetime.fromtimestamp(now, UTC) - window).date() - timedelta(days=1)


def is_closed(day: date, window: timedelta, now: float) -> bool:
    return day <= latest_closed_day(window, now)


def materialized_events(instance: dg.DagsterInstance, table: str, day: str) -> int | None:
    """How many landed events the day's latest materialization read (None: never built)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(table), asset_partitions=[day]), limit=1
    ).records
    if not records or records[0].asset_materialization is None:
        return None
    value = records[0].asset_materialization.metadata.get(EXTRACTED_KEY)
    return int(value.value) if value is not None else None  # type: ignore[arg-type]


@dataclass
class Tick:
    cursor: dict[str, int]  # day -> landed events it was (last) requested or found built for
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # over this tick's run limit


class EventSensorLogic:
    def __init__(self, contract: Contract, lookback_days: int, max_runs_per_tick: int) -> None:
        if contract.late_arrival is None:
            raise ValueError(f"{contract.source_file}: an event stream needs late_arrival")
        self.table = contract.table
        self.window = contract.late_arrival.window
        self.lookback_days = lookback_days
        self.max_runs_per_tick = max_runs_per_tick

    def days(self, now: float) -> list[date]:
        last = latest_closed_day(self.window, now)
        first = max(last - timedelta(days=self.lookback_days), date.fromisoformat(PARTITIONS_START))
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def evaluate(
        self,
        previous: dict[str, int],
        now: float,
        landed: Callable[[date], LandedDay],
        built: Callable[[str], int | None],
    ) -> Tick:
        days = self.days(now)
        tick = Tick({d: n for d, n in previous.items() if days and d >= days[0].isoformat()})
        for day in days:
            key = day.isoformat()
            events = landed(day).events
            known = tick.cursor.get(key)
            if known is None and built(key) == events:
                tick.cursor[key] = events  # already built from these events
                continue
            if known == events:
                continue
            if len(tick.run_requests) >= self.max_runs_per_tick:
                tick.waiting.append(key)
                continue
            if known is not None:
                tick.reopened.append(key)
            tick.run_requests.append(self._request(key, events))
            tick.cursor[key] = events
        return tick

    def _request(self, day: str, events: int) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=f"{self.table}/{day}/{events}",
            partition_key=day,
            asset_selection=[dg.AssetKey(self.table)],
            tags={"platform/landed_events": str(events)},
        )


def build_event_sensor(
    contract: Contract,
    broker_key: str,
    lookback_days: int = 7,
    max_runs_per_tick: int = 10,
    minimum_interval_seconds: int = 60,
    clock: Clock = time.time,
) -> dg.SensorDefinition:
    """Requires the ``warehouse`` (the landing table lives there) and the stream's
    ``EventBroker`` resource, named ``broker_key``."""
    logic = EventSensorLogic(contract, lookback_days, max_runs_per_tick)
    table = contract.table

    @dg.sensor(
        name=f"{table}_event_sensor",
        target=dg.AssetSelection.assets(table),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Builds each day of {table} once it closes (late-arrival window), and "
        "again when late events land for it.",
        required_resource_keys={"warehouse", broker_key},
    )
    def _sensor(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        # A direct call (tests) also passes the resources by keyword.
        broker: EventBroker = getattr(context.resources, broker_key)
        if not broker.configured:
            return dg.SensorResult(
                skip_reason=f"no broker configured ({broker.url_env} is not set): nothing lands; "
                "the daily schedule builds each day",
                cursor=context.cursor,
            )
        warehouse, now = context.resources.warehouse, clock()
        with warehouse.session() as session:
            prepare_landing(session, table)
            counts = {d: landed_day(session, table, *day_window(d)) for d in logic.days(now)}
        tick = logic.evaluate(
            json.loads(context.cursor) if context.cursor else {},
            now,
            counts.__getitem__,
            lambda day: materialized_events(context.instance, table, day),
        )
        summary = (
            f"{len(tick.run_requests)} day(s) requested ({len(tick.reopened)} reopened by late "
            f"events: {', '.join(tick.reopened) or 'none'}), {len(tick.waiting)} over the "
            f"tick's limit"
        )
        context.log.info(summary)
        return dg.SensorResult(
            run_requests=tick.run_requests,
            cursor=json.dumps(tick.cursor, sort_keys=True),
            skip_reason=None if tick.run_requests else summary,
        )

    return _sensor
