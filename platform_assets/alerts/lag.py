"""Consumer lag of a pushed stream, against the ``lag`` objective of its contract.

Lag is how long messages have waited without the consumer landing any: zero while the
queue is empty (an idle stream is not late), otherwise the age of the newest landed event's
``received_at``. With no broker configured (the embedded default) the queue depth is
unknown, the lag is the age of the newest landed event, and no alert is raised (there is no
stream to fall behind). A broker that cannot be asked leaves the depth unknown; the lag is
then judged on the landing table alone and the alert says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import dagster as dg

from platform_assets.alerts.freshness import human
from platform_assets.alerts.model import Alert
from platform_assets.alerts.resource import Alerting
from platform_assets.contracts import Contract
from platform_assets.sources.broker import BrokerError, EventBroker
from platform_assets.warehouse.landed import newest_received_at, prepare_landing
from platform_assets.warehouse.resource import Warehouse

LagState = Literal["ok", "warn", "error", "unknown"]
LAG_STATE_VALUE: dict[str, int] = {"unknown": -1, "ok": 0, "warn": 1, "error": 2}


@dataclass(frozen=True)
class StreamLag:
    stream: str
    queue_depth: int | None  # None: no broker configured, or it could not be asked
    newest_received_at: float | None  # epoch seconds; None: nothing ever landed
    lag_s: float | None
    broker: str  # "configured", "not configured", or why it could not be asked

    def state(self, contract: Contract) -> LagState:
        if contract.lag is None:
            return "unknown"
        if self.lag_s is None:  # nothing ever landed: bad only if messages wait
            return "error" if self.queue_depth else "unknown"
        if self.lag_s > contract.lag.error.total_seconds():
            return "error"
        return "warn" if self.lag_s > contract.lag.warn.total_seconds() else "ok"

    def describe(self, contract: Contract) -> str:
        depth = "unknown" if self.queue_depth is None else str(self.queue_depth)
        if self.lag_s is None:
            landed = "no event has landed yet"
        else:
            landed = f"the newest event landed {human(timedelta(seconds=self.lag_s))} ago"
        objective = (
            f" Objective: warn after {human(contract.lag.warn)}, error after "
            f"{human(contract.lag.error)}."
            if contract.lag
            else ""
        )
        return (
            f"Stream {self.stream}: {depth} message(s) waiting in its queue ({self.broker}); "
            f"{landed}.{objective}"
        )


def stream_lag(warehouse: Warehouse, broker: EventBroker, stream: str, now: float) -> StreamLag:
    with warehouse.session() as session:
        prepare_landing(session, stream)
        newest = newest_received_at(session, stream)
    newest_s = newest.timestamp() if newest is not None else None
    depth, status = None, "not configured"
    if broker.configured:
        try:
            depth, status = broker.queue_depth(stream), "configured"
        except BrokerError as exc:
            status = f"broker unreachable: {exc}"
    if depth == 0:
        lag = 0.0
    else:
        lag = max(now - newest_s, 0.0) if newest_s is not None else None
    return StreamLag(stream, depth, newest_s, lag, status)


def lag_alert(contract: Contract, lag: StreamLag, alerting: Alerting) -> Alert:
    error = lag.state(contract) == "error"
    return Alert(
        key=f"lag:{contract.table}",
        kind="lag",
        severity="critical" if error else "warning",
        title=f"{contract.table}: consumer lag {'breaches' if error else 'is close to'} "
        "its objective",
        text=lag.describe(contract) + " Check that the consumer runs (make consume) and "
        "that the warehouse accepts its writes.",
        asset=contract.table,
        owner=contract.owner,
        link=alerting.links().asset(contract.table),
        details={
            "lag_s": None if lag.lag_s is None else round(lag.lag_s),
            "queue_depth": lag.queue_depth,
        },
    )


def evaluate_lag(
    alerting: Alerting, contract: Contract, lag: StreamLag, now: float
) -> Literal["fired", "cleared", "unchanged", "skipped"]:
    if lag.queue_depth is None and lag.broker == "not configured":
        return "skipped"  # the embedded default: no stream to fall behind
    state = lag.state(contract)
    if state in ("warn", "error"):
        outcome = alerting.fire(lag_alert(contract, lag, alerting), now)
        return "unchanged" if outcome == "unchanged" else "fired"
    if state == "ok":
        reason = f"Caught up: {lag.describe(contract)}"
        return "cleared" if alerting.clear(f"lag:{contract.table}", reason, now) else "unchanged"
    return "unchanged"


def build_lag_alert_sensor(
    contract: Contract, broker_key: str, clock: Callable[[], float] = time.time
) -> dg.SensorDefinition:
    """``broker_key``: the ``EventBroker`` resource of the stream's defs folder."""
    if contract.lag is None:
        raise ValueError(f"{contract.source_file}: a lag alert needs a lag objective")

    @dg.sensor(
        name=f"{contract.table}_lag_alert_sensor",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Consumer lag of {contract.table} against its contract's objective.",
        required_resource_keys={"warehouse", "alerting", broker_key},
    )
    def _sensor(context: dg.SensorEvaluationContext, **_: object) -> dg.SkipReason:
        # A direct call (tests) also passes the resources by keyword: one is a folder name.
        now, broker = clock(), getattr(context.resources, broker_key)
        if not broker.configured:  # the embedded default: leave the DuckDB file to the runs
            return dg.SkipReason(f"no broker configured ({broker.url_env} is not set)")
        lag = stream_lag(context.resources.warehouse, broker, contract.table, now)
        alerting: Alerting = context.resources.alerting
        outcome = evaluate_lag(alerting, contract, lag, now)
        sent = ""
        if outcome in ("fired", "cleared"):
            sent = "; " + alerting.deliver(context.log).summary()
        return dg.SkipReason(
            f"lag {lag.state(contract)}: {lag.describe(contract)} ({outcome}{sent})"
        )

    return _sensor
