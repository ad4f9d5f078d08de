"""Prometheus metrics from the instance: values per asset and partition, retries, checks,
the Pushgateway, and the exporter process that ``make metrics`` starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import requests

from platform_assets.observability.exporter import PushError, poll_once, push
from platform_assets.observability.metrics import PlatformMetrics
from platform_assets_tests.alerts.receivers import HttpReceiver, free_port
from platform_assets_tests.observability.stand_ins import DAY, mart, raw_orders, run

LOADED_SAMPLE = (
    f'platform_partition_records{{asset="orders",partition="{DAY}",status="loaded"}} 240.0'
)

FRESH_SAMPLE = 'platform_freshness_state{asset="orders"} 0.0'


@pytest.fixture
def instance(tmp_path: Path):
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


def test_records_durations_checks_and_retries_per_asset(instance) -> None:
    assert run(instance, [raw_orders(flaky=True), mart()]).success
    assert not run(instance, [mart(fails=True)]).success
    metrics = PlatformMetrics()
    assert metrics.poll(instance, None, time.time()) == 2
    sample = metrics.registry.get_sample_value
    labels = {"asset": "orders", "partition": DAY}
    assert sample("platform_partition_records", {**labels, "status": "loaded"}) == 240
    assert sample("platform_partition_records", {**labels, "status": "quarantined"}) == 6
    assert sample("platform_partition_quarantine_rate", labels) == pytest.approx(6 / 246)
    assert (
        sample("platform_records_processed_total", {"asset": "orders", "status": "loaded"}) == 240
    )
    assert sample("platform_step_retries_total", {"asset": "orders"}) == 1
    duration = "platform_step_duration_seconds_count"
    assert sample(duration, {"asset": "orders", "status": "retry"}) == 1
    assert sample(duration, {"asset": "orders", "status": "success"}) == 1
    assert sample(duration, {"asset": "daily_revenue_by_country", "status": "success"}) == 1
    assert sample(duration, {"asset": "daily_revenue_by_country", "status": "failure"}) == 1
    check = {"asset": "orders", "check": "primary_key_unique_not_null"}
    assert (
        sample(
            "platform_check_evaluations_total", {**check, "outcome": "passed", "severity": "ERROR"}
        )
        == 1
    )
    assert sample("platform_check_passed", check) == 1
    assert (
        sample("platform_runs_total", {"job": "__ephemeral_asset_job__", "status": "FAILURE"}) == 1
    )
    assert sample("platform_freshness_state", {"asset": "orders"}) == 0
    assert sample("platform_freshness_state", {"asset": "payments"}) == -1  # never materialized

    assert metrics.poll(instance, None, time.time()) == 0  # incremental: nothing counted twice
    assert sample("platform_step_retries_total", {"asset": "orders"}) == 1


def test_partition_series_are_bounded(instance) -> None:
    metrics = PlatformMetrics(max_partitions=2)
    for day in ("2026-03-08", "2026-03-09", "2026-03-10"):
        dg.materialize([raw_orders()], instance=instance, partition_key=day)
    metrics.poll(instance, None, time.time())
    partitions = {
        s.labels["partition"]
        for family in metrics.registry.collect()
        if family.name == "platform_partition_records"
        for s in family.samples
    }
    assert partitions == {"2026-03-09", "2026-03-10"}


def test_pushgateway_gets_the_registry_and_a_down_gateway_is_an_error_without_secrets(
    instance, tmp_path: Path
) -> None:
    run(instance, [raw_orders()])
    gateway = HttpReceiver().start()
    env = {
        "PLATFORM_ALERT_STATE_URL": f"sqlite:///{tmp_path / 'alerts.sqlite'}",
        "PLATFORM_PUSHGATEWAY_URL": gateway.url,
    }
    try:
        assert poll_once(instance, PlatformMetrics(), env) == 1
    finally:
        gateway.stop()
    [pushed] = gateway.requests
    assert (pushed.method, pushed.path) == ("PUT", "/metrics/job/platform_assets")
    assert (
        'platform_partition_records{asset="orders",partition="2026-03-10",status="loaded"} 240.0'
        in pushed.body.decode()
    )

    down = f"http://pusher:pushgateway-secret-77@127.0.0.1:{free_port()}"
    with pytest.raises(PushError) as failed:
        push(down, PlatformMetrics())
    assert "pushgateway-secret-77" not in str(failed.value)


def test_exporter_process_serves_metrics(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run(instance, [raw_orders()])
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PLATFORM_HOME": str(tmp_path / "platform"),
        "PLATFORM_METRICS_PORT": str(port),
    }
    env.pop("PLATFORM_PUSHGATEWAY_URL", None)
    exporter = Path(sys.executable).with_name("platform-metrics")
    proc = subprocess.Popen(
        [str(exporter), "--interval", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = _scrape(f"http://127.0.0.1:{port}/metrics", proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert (
        'platform_partition_records{asset="orders",partition="2026-03-10",status="loaded"} 240.0'
        in body
    )
    assert 'platform_freshness_state{asset="orders"} 0.0' in body


def _scrape(url: str, proc: subprocess.Popen, wait_s: float = 60.0) -> str:
    """Waits (for an event, with a limit) until the exporter has polled once."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            body = requests.get(url, timeout=2).text
        except requests.ConnectionError:
            body = ""
        if LOADED_SAMPLE in body and FRESH_SAMPLE in body:  # one poll completed
            return body
        time.sleep(0.3)
    raise AssertionError("the exporter served no platform metrics within the wait")
