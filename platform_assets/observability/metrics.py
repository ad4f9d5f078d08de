"""Prometheus metrics per asset (and partition), derived from the Dagster instance's events.

Read incrementally from finished runs (``runs.py``), so the exporter process needs nothing
but the instance: records loaded and quarantined, step durations, check outcomes, retries,
freshness lag (computed like the alert sensor does) and open alerts (from the alert store).
Partition labels are kept for the latest ``max_partitions`` partitions of each asset only,
so the number of series stays bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dagster as dg
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from platform_assets.alerts.freshness import STATE_VALUE, freshness_of
from platform_assets.alerts.lag import LAG_STATE_VALUE, StreamLag
from platform_assets.alerts.runs import FinishedRun, RunCursor, finished_runs, run_events
from platform_assets.alerts.store import AlertStore
from platform_assets.contracts import Contract, contracts
from platform_assets.quality.evaluations import check_evaluations

E = dg.DagsterEventType
RUN_EVENTS = (
    E.STEP_START,
    E.STEP_RESTARTED,
    E.STEP_SUCCESS,
    E.STEP_FAILURE,
    E.STEP_UP_FOR_RETRY,
    E.ASSET_MATERIALIZATION,
)
STEP_END = {E.STEP_SUCCESS: "success", E.STEP_FAILURE: "failure", E.STEP_UP_FOR_RETRY: "retry"}
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
BATCH = 200


class PlatformMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, max_partitions: int = 14):
        self.registry = registry or CollectorRegistry()
        self.max_partitions = max_partitions
        self.cursor = RunCursor()
        self._partitions: dict[str, list[str]] = {}
        r = self.registry
        self.records = Gauge(
            "platform_partition_records",
            "Records of a partition's latest materialization, by status",
            ["asset", "partition", "status"],
            registry=r,
        )
        self.quarantine_rate = Gauge(
            "platform_partition_quarantine_rate",
            "Share of extracted records quarantined in a partition's latest materialization",
            ["asset", "partition"],
            registry=r,
        )
        self.records_total = Counter(
            "platform_records_processed",
            "Records processed by materializations, by status (loaded | quarantined)",
            ["asset", "status"],
            registry=r,
        )
        self.step_duration = Histogram(
            "platform_step_duration_seconds",
            "Duration of each step attempt, by outcome (success | failure | retry)",
            ["asset", "status"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.checks = Counter(
            "platform_check_evaluations",
            "Asset check evaluations by outcome (passed | failed) and severity",
            ["asset", "check", "outcome", "severity"],
            registry=r,
        )
        self.check_passed = Gauge(
            "platform_check_passed",
            "Latest outcome of each asset check: 1 passed, 0 failed",
            ["asset", "check"],
            registry=r,
        )
        self.step_retries = Counter(
            "platform_step_retries", "Step attempts that were retried", ["asset"], registry=r
        )
        self.run_retries = Counter(
            "platform_run_retries", "Runs that were automatic run retries", ["job"], registry=r
        )
        self.runs = Counter("platform_runs", "Finished runs", ["job", "status"], registry=r)
        self.freshness_lag = Gauge(
            "platform_freshness_lag_seconds",
            "Seconds since the asset's latest materialization",
            ["asset"],
            registry=r,
        )
        self.freshness_state = Gauge(
            "platform_freshness_state",
            "Freshness against the contract: 0 fresh, 1 warn, 2 fail, -1 never materialized",
            ["asset"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "platform_stream_queue_depth",
            "Messages of a pushed event stream waiting in its broker queue",
            ["stream"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "platform_stream_lag_seconds",
            "Consumer lag: 0 with an empty queue, else seconds since the newest event landed",
            ["stream"],
            registry=r,
        )
        self.lag_state = Gauge(
            "platform_stream_lag_state",
            "Consumer lag against the contract's objective: 0 ok, 1 warn, 2 error, -1 unknown",
            ["stream"],
            registry=r,
        )
        self.open_alerts = Gauge(
            "platform_open_alerts", "Open alerts", ["kind", "severity"], registry=r
        )

    def poll(self, instance: dg.DagsterInstance, store: AlertStore | None, now: float) -> int:
        """Read what finished since the last poll; refresh the gauges. Returns runs read."""
        read = 0
        while True:
            runs, self.cursor = finished_runs(instance, self.cursor, limit=BATCH)
            for run in runs:
                self._observe_run(instance, run)
            read += len(runs)
            if len(runs) < BATCH:
                break
        self._observe_freshness(instance, now)
        if store is not None:
            self._observe_alerts(store.open_alerts())
        return read

    def _observe_run(self, instance: dg.DagsterInstance, run: FinishedRun) -> None:
        self.runs.labels(run.job_name, run.status).inc()
        if int(run.tags.get("dagster/retry_number", "0")) > 0:
            self.run_retries.labels(run.job_name).inc()
        attempts: dict[str, float] = {}
        for record in run_events(instance, run.run_id, RUN_EVENTS):
            event = record.event_log_entry.get_dagster_event()
            step = event.step_key or ""
            if event.event_type in (E.STEP_START, E.STEP_RESTARTED):
                attempts[step] = record.timestamp
            elif event.event_type in STEP_END and step in attempts:
                status = STEP_END[event.event_type]
                duration = record.timestamp - attempts.pop(step)
                self.step_duration.labels(step, status).observe(duration)
                if status == "retry":
                    self.step_retries.labels(step).inc()
            elif event.event_type == E.ASSET_MATERIALIZATION:
                self._observe_materialization(event.step_materialization_data.materialization)
        for evaluation in check_evaluations(instance, run.run_id):
            self._observe_check(evaluation)

    def _observe_materialization(self, materialization: dg.AssetMaterialization) -> None:
        asset = materialization.asset_key.to_user_string()
        meta = {k: v.value for k, v in materialization.metadata.items()}
        loaded, quarantined = meta.get("rows_loaded"), meta.get("rows_quarantined")
        partition = materialization.partition or ""
        for status, value in (("loaded", loaded), ("quarantined", quarantined)):
            if isinstance(value, int | float):
                self.records_total.labels(asset, status).inc(value)
                self.records.labels(asset, partition, status).set(value)
        if isinstance(meta.get("quarantine_rate"), int | float):
            self.quarantine_rate.labels(asset, partition).set(meta["quarantine_rate"])
        self._keep_recent(asset, partition)

    def _keep_recent(self, asset: str, partition: str) -> None:
        """Drop the series of partitions older than the newest ``max_partitions``."""
        known = self._partitions.setdefault(asset, [])
        if partition not in known:
            known.append(partition)
            known.sort()
        while len(known) > self.max_partitions:
            old = known.pop(0)
            for status in ("loaded", "quarantined"):
                self.records.remove(asset, old, status)  # absent labels: a no-op
            self.quarantine_rate.remove(asset, old)

    def _observe_check(self, evaluation: dg.AssetCheckEvaluation) -> None:
        asset = evaluation.asset_key.to_user_string()
        outcome = "passed" if evaluation.passed else "failed"
        severity = evaluation.severity.value
        self.checks.labels(asset, evaluation.check_name, outcome, severity).inc()
        self.check_passed.labels(asset, evaluation.check_name).set(1 if evaluation.passed else 0)

    def _observe_freshness(self, instance: dg.DagsterInstance, now: float) -> None:
        for contract in contracts().values():
            fresh = freshness_of(instance, contract, now)
            self.freshness_state.labels(contract.table).set(STATE_VALUE[fresh.state])
            if fresh.lag_s is not None:
                self.freshness_lag.labels(contract.table).set(fresh.lag_s)

    def observe_stream(self, contract: Contract, lag: StreamLag) -> None:
        """A stream's queue depth and consumer lag (``alerts.lag.stream_lag``); unknown
        values leave their series absent rather than reporting a made-up zero."""
        self.lag_state.labels(lag.stream).set(LAG_STATE_VALUE[lag.state(contract)])
        for gauge, value in ((self.queue_depth, lag.queue_depth), (self.consumer_lag, lag.lag_s)):
            if value is None:
                gauge.remove(lag.stream)
            else:
                gauge.labels(lag.stream).set(value)

    def _observe_alerts(self, rows: Iterable[Any]) -> None:
        counts: dict[tuple[str, str], int] = {}
        for row in rows:
            counts[(row.kind, row.severity)] = counts.get((row.kind, row.severity), 0) + 1
        self.open_alerts.clear()
        for (kind, severity), count in counts.items():
            self.open_alerts.labels(kind, severity).set(count)
