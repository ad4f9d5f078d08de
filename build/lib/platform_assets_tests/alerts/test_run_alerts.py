"""Failed gates, volume anomalies and failed runs: one alert each, and their recovery."""

from __future__ import annotations

import dagster as dg

from platform_assets.alerts.sensors import (
    build_gate_alert_sensor,
    retry_will_follow,
    run_failure_alert_sensor,
)
from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts.model import PRIMARY_KEY_CHECK, VOLUME_CHECK
from platform_assets_tests.alerts.helpers import dispatch, tick

DAY = "2026-03-10"


def orders_stand_in(keys_unique: bool, volume_normal: bool) -> dg.AssetsDefinition:
    """An asset keyed like the contract's ``orders`` whose gates pass or fail on demand."""

    @dg.asset(
        key="orders",
        partitions_def=daily_partitions,
        check_specs=[
            dg.AssetCheckSpec(PRIMARY_KEY_CHECK, asset="orders", blocking=True),
            dg.AssetCheckSpec(VOLUME_CHECK, asset="orders", blocking=True),
        ],
    )
    def orders() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={"rows_loaded": 240},
            check_results=[
                dg.AssetCheckResult(
                    check_name=PRIMARY_KEY_CHECK,
                    passed=keys_unique,
                    description="0 null keys, 3 duplicated keys"
                    if not keys_unique
                    else "0 null keys, 0 duplicated keys",
                ),
                dg.AssetCheckResult(
                    check_name=VOLUME_CHECK,
                    passed=volume_normal,
                    severity=dg.AssetCheckSeverity.WARN,
                    description="12 rows; robust z-score -9.3 against the last 14 partitions",
                ),
            ],
        )

    return orders


def materialize(instance: dg.DagsterInstance, keys_unique: bool, volume_normal: bool) -> str:
    result = dg.materialize(
        [orders_stand_in(keys_unique, volume_normal)],
        instance=instance,
        partition_key=DAY,
        raise_on_error=False,
    )
    return result.run_id


def test_failed_gate_and_volume_anomaly_alert_once_then_recover(sinks, instance) -> None:
    failed_run = materialize(instance, keys_unique=False, volume_normal=False)
    sensor = build_gate_alert_sensor(name="gates")
    result = tick(sensor, instance, sinks.alerting)
    assert result.skip_reason.skip_message == (  # critical: 4 sinks, warning: log and chat
        "1 finished run(s) read, 2 alert(s) raised, 0 cleared; 6 notification(s) delivered"
    )
    # The next tick reads nothing new; a sensor that lost its cursor re-reads the run and
    # finds both alerts already open: nothing is announced twice.
    again = tick(sensor, instance, sinks.alerting, cursor=result.cursor)
    assert again.skip_reason.skip_message == "0 finished run(s) read, 0 alert(s) raised, 0 cleared"
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)

    [gate] = sinks.webhook()  # only the ERROR gate pages; the WARN volume check goes to chat
    assert gate["alert"] == f"check:orders:{DAY}:{PRIMARY_KEY_CHECK}"
    assert (gate["kind"], gate["severity"], gate["route"]) == ("check", "critical", "commerce")
    assert gate["title"] == f"Gate failed: {PRIMARY_KEY_CHECK} on orders[{DAY}]"
    assert gate["text"].startswith("0 null keys, 3 duplicated keys. Downstream assets will not")
    assert gate["link"] == f"http://dagster.example:3000/runs/{failed_run}"
    assert gate["run_id"] == failed_run
    chats = sorted(p["text"].splitlines()[0] for p in sinks.slack())
    assert chats == [
        f":rotating_light: *[CRITICAL] [commerce] Gate failed: {PRIMARY_KEY_CHECK} "
        f"on orders[{DAY}]*",
        f":warning: *[WARNING] [commerce] Volume anomaly: {VOLUME_CHECK} on orders[{DAY}]*",
    ]
    assert len(sinks.smtp.inbox) == 1

    materialize(instance, keys_unique=True, volume_normal=True)
    recovered = tick(sensor, instance, sinks.alerting, cursor=result.cursor)
    assert recovered.skip_reason.skip_message.endswith(
        "0 alert(s) raised, 2 cleared; 6 notification(s) delivered"
    )
    dispatch(instance, sinks.alerting)
    assert [p["event"] for p in sinks.webhook()] == ["firing", "resolved"]
    assert len(sinks.slack()) == 4


def failing_job(message: str) -> dg.JobDefinition:
    @dg.op(name="orders")  # the step is named after the asset, as asset steps are
    def orders() -> None:
        raise RuntimeError(message)

    @dg.job(name="daily_job")
    def job() -> None:
        orders()

    return job


def run_failure_tick(instance: dg.DagsterInstance, alerting, run_id: str) -> None:
    run = instance.get_run_by_id(run_id)
    assert run is not None
    [failure] = [
        r.event_log_entry.get_dagster_event()
        for r in instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
    ]
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        resources={"alerting": alerting},
    ).for_run_failure()
    run_failure_alert_sensor(context)


def test_failed_run_alerts_once_only_after_its_last_retry(sinks, instance) -> None:
    job = failing_job("storefront API answered HTTP 503 on every attempt")
    tags = {"dagster/partition": DAY}
    first = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert instance.get_run_by_id(first.run_id).tags["dagster/will_retry"] == "true"
    run_failure_tick(instance, sinks.alerting, first.run_id)
    dispatch(instance, sinks.alerting)
    assert sinks.webhook() == []  # a retry follows: nobody is paged yet

    # The instance decides with the run group; a third attempt (retry 2) of a step failure
    # under the production setting retry_on_asset_or_op_failure=false gets no further retry.
    final_tags = {"dagster/retry_number": "2", "dagster/retry_on_asset_or_op_failure": "false"}
    last = job.execute_in_process(
        instance=instance, raise_on_error=False, tags={**tags, **final_tags}
    )
    assert instance.get_run_by_id(last.run_id).tags["dagster/will_retry"] == "false"
    run_failure_tick(instance, sinks.alerting, last.run_id)
    run_failure_tick(instance, sinks.alerting, last.run_id)  # the same failure seen again
    dispatch(instance, sinks.alerting)

    [page] = sinks.webhook()
    assert page["alert"] == f"run_failure:daily_job:{DAY}"
    assert page["title"] == f"Run of daily_job[{DAY}] failed after 2 retries"
    assert page["text"].startswith(
        "Failed steps: orders: RuntimeError: storefront API answered HTTP 503 on every attempt."
    )
    assert (page["severity"], page["route"]) == ("critical", "commerce")
    assert page["run_id"] == last.run_id
    assert page["link"] == f"http://dagster.example:3000/runs/{last.run_id}"

    # A later successful run of the same job and partition clears it.
    @dg.op(name="orders")
    def orders_ok() -> None:
        return None

    @dg.job(name="daily_job")
    def fixed() -> None:
        orders_ok()

    fixed.execute_in_process(instance=instance, tags=tags)
    tick(build_gate_alert_sensor(name="gates"), instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    assert [p["event"] for p in sinks.webhook()] == ["firing", "resolved"]


def test_without_the_will_retry_tag_the_retry_number_decides(instance) -> None:
    assert retry_will_follow({}, instance)  # retry 0 of max 2
    assert retry_will_follow({"dagster/retry_number": "1"}, instance)
    assert not retry_will_follow({"dagster/retry_number": "2"}, instance)
    assert not retry_will_follow({"dagster/max_retries": "0"}, instance)
    assert not retry_will_follow({"dagster/will_retry": "false"}, instance)
    with dg.DagsterInstance.ephemeral() as no_retries:  # run retries off: every failure is final
        assert not retry_will_follow({}, no_retries)
