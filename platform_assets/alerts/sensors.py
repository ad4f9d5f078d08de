"""The alert sensors: detect breaches, record them once, deliver them, announce recoveries.

* ``freshness_alert_sensor``: each asset against its contract's warn/fail windows
  (warning, then critical), and each partitioned asset's deadline for yesterday's partition.
* ``gate_alert_sensor``: check evaluations of every finished run (a failed gate; a
  ``volume_anomaly`` check is its own kind of alert) and their recovery; a successful run
  also clears the run-failure alert of its job and partition.
* ``run_failure_alert_sensor``: a failed run, only when no automatic retry will follow;
  runs launched from the CLI (``dagster asset materialize``) included.
* ``drop_alert_sensor``: drop files the landing sensor rejected.
* ``alert_dispatch_sensor``: delivers the outbox to the sinks; fails its tick loudly while a
  sink is down, keeping the notifications pending until a later tick delivers them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

import dagster as dg

from platform_assets.alerts.freshness import (
    Freshness,
    due_partition,
    freshness_of,
    partition_materialized_at,
)
from platform_assets.alerts.model import Alert
from platform_assets.alerts.resource import Alerting
from platform_assets.alerts.runs import FinishedRun, RunCursor, finished_runs, user_error
from platform_assets.automation.drop_sensor import EVENT_KEY, REJECTED_EVENT
from platform_assets.contracts import Contract, contracts
from platform_assets.contracts.model import VOLUME_CHECK
from platform_assets.quality.evaluations import check_evaluations

Clock = Callable[[], float]
WILL_RETRY_TAG = "dagster/will_retry"
RETRY_NUMBER_TAG = "dagster/retry_number"
MAX_RETRIES_TAG = "dagster/max_retries"
ERROR_CHARS = 400


class AlertDeliveryError(RuntimeError):
    """Some notifications could not be delivered this tick (they stay pending)."""


def deliver_now(context: dg.SensorEvaluationContext, alerting: Alerting, changes: int) -> str:
    """A detecting tick sends what it recorded at once (no wait for the dispatch sensor's
    next tick); a failed send is logged and left to the dispatch sensor to retry."""
    if not changes:
        return ""
    return "; " + alerting.deliver(context.log).summary()


def _owner(asset: str | None) -> str | None:
    contract = contracts().get(asset or "")
    return contract.owner if contract else None


# --- freshness and deadlines -------------------------------------------------------------


def evaluate_freshness(
    instance: dg.DagsterInstance, alerting: Alerting, now: float, tables: Sequence[str]
) -> dict[str, int]:
    counts = {"fired": 0, "cleared": 0}
    for contract in (contracts()[t] for t in tables):
        fresh = freshness_of(instance, contract, now)
        key = f"freshness:{contract.table}"
        if fresh.state in ("warn", "fail"):
            counts["fired"] += alerting.fire(freshness_alert(contract, fresh, alerting), now) != (
                "unchanged"
            )
        elif fresh.state == "fresh":
            reason = f"Fresh again: {fresh.describe(contract)}"
            counts["cleared"] += alerting.clear(key, reason, now)
        alert = deadline_alert(instance, alerting, contract, now)
        if alert is not None:
            counts["fired"] += alerting.fire(alert, now) != "unchanged"
    return counts


def freshness_alert(contract: Contract, fresh: Freshness, alerting: Alerting) -> Alert:
    failing = fresh.state == "fail"
    verb = "breaches" if failing else "is close to breaching"
    return Alert(
        key=f"freshness:{contract.table}",
        kind="freshness",
        severity="critical" if failing else "warning",
        title=f"{contract.table} {verb} its freshness SLO",
        text=fresh.describe(contract)
        + " Check the latest runs of its job and its source, then re-materialize.",
        asset=contract.table,
        owner=contract.owner,
        link=alerting.links().asset(contract.table),
        details={"state": fresh.state, "lag_s": round(fresh.lag_s or 0)},
    )


def deadline_alert(
    instance: dg.DagsterInstance, alerting: Alerting, contract: Contract, now: float
) -> Alert | None:
    """Yesterday's partition not materialized by the contract's deadline (UTC) today."""
    partition = due_partition(contract, now)
    if partition is None or contract.deadline is None:
        return None
    if partition_materialized_at(instance, contract.table, partition) is not None:
        return None
    deadline = contract.deadline.strftime("%H:%M")
    return Alert(
        key=f"deadline:{contract.table}:{partition}",
        kind="deadline",
        severity="critical",
        title=f"{contract.table}[{partition}] missed its {deadline} UTC deadline",
        text=(
            f"Partition {partition} of {contract.table} must be materialized by {deadline} UTC "
            "the next day and is not. Check the daily schedule's run for it, or backfill it."
        ),
        asset=contract.table,
        partition=partition,
        owner=contract.owner,
        link=alerting.links().asset(contract.table, partition),
        details={"deadline_utc": deadline},
    )


def clear_met_deadlines(
    instance: dg.DagsterInstance, alerting: Alerting, now: float, tables: Sequence[str]
) -> int:
    cleared = 0
    for row in alerting.store().open_alerts(kinds=["deadline"]):
        if row.asset not in tables:
            continue
        loaded = partition_materialized_at(instance, row.asset, row.partition)
        if loaded is not None:
            reason = f"{row.asset}[{row.partition}] is materialized now."
            cleared += alerting.clear(row.key, reason, now)
    return cleared


def build_freshness_alert_sensor(
    clock: Clock = time.time,
    name: str = "freshness_alert_sensor",
    tables: Sequence[str] | None = None,
) -> dg.SensorDefinition:
    """Watches ``tables`` (default: every contract). ``clock`` is injectable so a test can be
    30 hours later without waiting for it."""
    watched = list(tables) if tables is not None else list(contracts())

    @dg.sensor(
        name=name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Freshness SLO (warn/fail windows) and partition deadline alerts.",
    )
    def _sensor(context: dg.SensorEvaluationContext, alerting: Alerting) -> dg.SkipReason:
        now = clock()
        counts = evaluate_freshness(context.instance, alerting, now, watched)
        counts["cleared"] += clear_met_deadlines(context.instance, alerting, now, watched)
        sent = deliver_now(context, alerting, counts["fired"] + counts["cleared"])
        return dg.SkipReason(
            f"{counts['fired']} freshness alert(s) raised, {counts['cleared']} cleared{sent}"
        )

    return _sensor


# --- gates (asset checks) and run recoveries ---------------------------------------------


def check_alert(evaluation: object, run: FinishedRun, alerting: Alerting) -> Alert:
    """A check on the asset's materialization carries no partition: the run's is the one."""
    asset = evaluation.asset_key.to_user_string()  # type: ignore[attr-defined]
    partition = evaluation.partition or run.partition  # type: ignore[attr-defined]
    check = evaluation.check_name  # type: ignore[attr-defined]
    error = evaluation.severity == dg.AssetCheckSeverity.ERROR  # type: ignore[attr-defined]
    blocking = bool(evaluation.blocking)  # type: ignore[attr-defined]
    volume = check == VOLUME_CHECK
    where = f"{asset}[{partition}]" if partition else asset
    consequence = (
        "Downstream assets will not consume this partition until it passes."
        if blocking and error
        else "Reported only (severity WARN): downstream assets still run."
    )
    return Alert(
        key=f"check:{asset}:{partition or '-'}:{check}",
        kind="volume_anomaly" if volume else "check",
        severity="critical" if blocking and error else "warning",
        title=f"{'Volume anomaly' if volume else 'Gate failed'}: {check} on {where}",
        text=f"{evaluation.description or 'check failed'}. {consequence}",  # type: ignore[attr-defined]
        asset=asset,
        partition=partition,
        owner=_owner(asset),
        link=alerting.links().run(run.run_id),
        run_id=run.run_id,
        details={"check": check, "blocking": blocking, "severity": "ERROR" if error else "WARN"},
    )


def evaluate_runs(
    instance: dg.DagsterInstance, alerting: Alerting, cursor: RunCursor, now: float
) -> tuple[dict[str, int], RunCursor]:
    counts = {"runs": 0, "fired": 0, "cleared": 0}
    runs, cursor = finished_runs(instance, cursor)
    for run in runs:
        counts["runs"] += 1
        for evaluation in check_evaluations(instance, run.run_id):
            alert = check_alert(evaluation, run, alerting)
            if evaluation.passed:  # type: ignore[attr-defined]
                reason = f"{alert.details['check']} passed in run {run.run_id[:8]}."
                counts["cleared"] += alerting.clear(alert.key, reason, now)
            else:
                counts["fired"] += alerting.fire(alert, now) != "unchanged"
        if run.status == "SUCCESS":
            key = run_failure_key(run.job_name, run.partition)
            reason = f"Run {run.run_id[:8]} of {run.job_name} succeeded."
            counts["cleared"] += alerting.clear(key, reason, now)
    return counts, cursor


def build_gate_alert_sensor(
    clock: Clock = time.time, name: str = "gate_alert_sensor"
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Failed asset checks (gates, volume anomalies) of finished runs, recoveries.",
    )
    def _sensor(context: dg.SensorEvaluationContext, alerting: Alerting) -> dg.SensorResult:
        counts, cursor = evaluate_runs(
            context.instance, alerting, RunCursor.parse(context.cursor), clock()
        )
        sent = deliver_now(context, alerting, counts["fired"] + counts["cleared"])
        summary = (
            f"{counts['runs']} finished run(s) read, {counts['fired']} alert(s) raised, "
            f"{counts['cleared']} cleared{sent}"
        )
        return dg.SensorResult(cursor=cursor.dumps(), skip_reason=summary)

    return _sensor


# --- failed runs ---------------------------------------------------------------------------


def run_failure_key(job: str, partition: str | None) -> str:
    return f"run_failure:{job}:{partition or '-'}"


def retry_will_follow(tags: dict[str, str], instance: dg.DagsterInstance) -> bool:
    """The instance tags a failed run with dagster/will_retry when run retries are on; without
    the tag, compare the run's retry number with its (or the instance's) max_retries."""
    will_retry = tags.get(WILL_RETRY_TAG)
    if will_retry is not None:
        return will_retry.lower() == "true"
    if not instance.run_retries_enabled:
        return False
    number = int(tags.get(RETRY_NUMBER_TAG, "0"))
    return number < int(tags.get(MAX_RETRIES_TAG, instance.run_retries_max_retries))


def _step_error(event: dg.DagsterEvent) -> str:
    return f"{event.step_key}: {user_error(event)[:ERROR_CHARS]}"


def failure_alert(context: dg.RunFailureSensorContext, alerting: Alerting) -> Alert:
    run = context.dagster_run
    partition = run.tags.get("dagster/partition")
    steps = context.get_step_failure_events()
    failed = [_step_error(e) for e in steps]
    first_asset = steps[0].step_key if steps else None
    retries = int(run.tags.get(RETRY_NUMBER_TAG, "0"))
    where = f"{run.job_name}[{partition}]" if partition else run.job_name
    cause = ("Failed steps: " + "; ".join(failed)) if failed else context.failure_event.message
    return Alert(
        key=run_failure_key(run.job_name, partition),
        kind="run_failure",
        severity="critical",
        title=f"Run of {where} failed" + (f" after {retries} retries" if retries else ""),
        text=f"{cause or 'run failed'}. No automatic retry follows: fix the cause, then "
        "re-execute from failure.",
        asset=first_asset if first_asset in contracts() else None,
        partition=partition,
        owner=_owner(first_asset),
        link=alerting.links().run(run.run_id),
        run_id=run.run_id,
        details={"job": run.job_name, "retry_number": retries, "failed_steps": len(failed)},
    )


# Dagster's run status sensors watch only runs whose origin is this code location. Runs
# launched from the CLI (`dagster asset materialize`, `dagster job execute`) carry no origin
# and would be ignored: watch every run of the instance, which serves this code location.
@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    monitor_all_code_locations=True,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed run, once no automatic retry will follow it.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerting: Alerting) -> None:
    run = context.dagster_run
    if retry_will_follow(dict(run.tags), context.instance):
        context.log.info(f"run {run.run_id} failed; a retry will follow: no alert yet")
        return
    outcome = alerting.fire(failure_alert(context, alerting))
    sent = alerting.deliver(context.log).summary() if outcome != "unchanged" else "nothing new"
    context.log.info(f"run {run.run_id} failed for good: alert {outcome}; {sent}")


# --- rejected drop files -------------------------------------------------------------------


def evaluate_drops(
    instance: dg.DagsterInstance, alerting: Alerting, cursor: dict[str, int], now: float
) -> tuple[int, dict[str, int]]:
    fired, cursor = 0, dict(cursor)
    raw_tables = [c.table for c in contracts().values() if c.layer == "raw"]
    for table in raw_tables:
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(table), after_storage_id=cursor.get(table)),
            limit=100,
            ascending=True,
        ).records
        for record in records:
            cursor[table] = record.storage_id
            observation = record.asset_observation
            meta = observation.metadata if observation else {}
            if EVENT_KEY in meta and meta[EVENT_KEY].value == REJECTED_EVENT:
                fired += alerting.fire(drop_alert(table, record, alerting), now) != "unchanged"
    return fired, cursor


def drop_alert(table: str, record: dg.EventLogRecord, alerting: Alerting) -> Alert:
    observation = record.asset_observation
    assert observation is not None
    meta = {k: v.value for k, v in observation.metadata.items()}
    file, partition = str(meta.get("file")), observation.partition
    return Alert(
        key=f"drop_rejected:{table}:{file}",
        kind="drop_rejected",
        severity="warning",
        title=f"Drop file {file} for {table} was rejected",
        text=(
            f"{meta.get('reason')}. The file was moved to {meta.get('rejected_path')}; "
            "ask the sender for a corrected file (a re-delivery loads its partition)."
        ),
        asset=table,
        partition=partition,
        owner=_owner(table),
        link=alerting.links().asset(table, partition),
        details={"file": file, "reason": str(meta.get("reason"))},
    )


def clear_redelivered_drops(instance: dg.DagsterInstance, alerting: Alerting, now: float) -> int:
    """A rejected day's alert clears once that partition is materialized after the rejection."""
    cleared = 0
    for row in alerting.store().open_alerts(kinds=["drop_rejected"]):
        if row.partition is None:
            continue  # no partition to load (a badly named file): it clears by hand
        loaded = partition_materialized_at(instance, row.asset, row.partition)
        if loaded is not None and loaded > row.opened_at:
            reason = f"{row.asset}[{row.partition}] was loaded from a new delivery."
            cleared += alerting.clear(row.key, reason, now)
    return cleared


def build_drop_alert_sensor(
    clock: Clock = time.time, name: str = "drop_alert_sensor"
) -> dg.SensorDefinition:
    @dg.sensor(
        name=name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Drop files rejected by the landing sensors, and their re-delivery.",
    )
    def _sensor(context: dg.SensorEvaluationContext, alerting: Alerting) -> dg.SensorResult:
        now = clock()
        cursor = json.loads(context.cursor) if context.cursor else {}
        fired, cursor = evaluate_drops(context.instance, alerting, cursor, now)
        cleared = clear_redelivered_drops(context.instance, alerting, now)
        sent = deliver_now(context, alerting, fired + cleared)
        return dg.SensorResult(
            cursor=json.dumps(cursor, sort_keys=True),
            skip_reason=f"{fired} rejected drop alert(s) raised, {cleared} cleared{sent}",
        )

    return _sensor


# --- delivery ------------------------------------------------------------------------------


@dg.sensor(
    name="alert_dispatch_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Delivers pending alert notifications to Slack, webhook, e-mail and the log.",
)
def alert_dispatch_sensor(context: dg.SensorEvaluationContext, alerting: Alerting) -> dg.SkipReason:
    report = alerting.deliver(context.log)
    if report.failed:
        raise AlertDeliveryError(report.summary())
    return dg.SkipReason(report.summary())


def alert_sensors() -> list[dg.SensorDefinition]:
    return [
        build_freshness_alert_sensor(),
        build_gate_alert_sensor(),
        run_failure_alert_sensor,
        build_drop_alert_sensor(),
        alert_dispatch_sensor,
    ]
