"""Consumer lag of a pushed stream: a real queue's depth, the landing table, the contract's
objective; the alert reaches real sinks once, and its recovery once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pika
import pytest

from platform_assets.alerts.lag import build_lag_alert_sensor, stream_lag
from platform_assets.contracts import Contract, contracts
from platform_assets.observability.metrics import PlatformMetrics
from platform_assets.sources.broker import EventBroker
from platform_assets.warehouse.landed import prepare_landing
from platform_assets.warehouse.landing import landing_table
from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.alerts.helpers import dispatch
from platform_assets_tests.conftest import service_unavailable

BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
BROKER_KEY = "events_folder"


@pytest.fixture
def stream() -> Contract:
    """shipment_events' contract under a name of its own: its queue and landing table are
    this test's alone (other tests use the broker too)."""
    return replace(contracts()["shipment_events"], table=f"lag_test_{uuid.uuid4().hex[:10]}")


@pytest.fixture
def channel(stream: Contract) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    try:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    except pika.exceptions.AMQPConnectionError as exc:
        service_unavailable(f"RabbitMQ not reachable at 127.0.0.1:5672: {exc!r}")
    channel = connection.channel()
    channel.queue_declare(stream.table)
    channel.confirm_delivery()  # a publish returns once the broker has the message
    try:
        yield channel
    finally:
        channel.queue_delete(stream.table)
        connection.close()


def test_a_stale_stream_pages_once_and_recovers_once(
    sinks, instance: dg.DagsterInstance, stream: Contract, channel, tmp_path: Path
) -> None:
    warehouse = Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    landed_at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    with warehouse.session() as session:
        prepare_landing(session, stream.table)
        session.execute(
            f"INSERT INTO {landing_table(stream.table)} VALUES ('e1', :t, :t, '{{}}')",  # noqa: S608
            {"t": landed_at},
        )
    for n in range(3):  # waiting, and the consumer lands nothing
        channel.basic_publish("", stream.table, f'{{"event_id": "w{n}"}}'.encode())
    clock = {"now": (landed_at + timedelta(minutes=20)).timestamp()}  # error after 15m
    sensor = build_lag_alert_sensor(stream, BROKER_KEY, clock=lambda: clock["now"])
    resources = {
        "warehouse": warehouse,
        "alerting": sinks.alerting,
        BROKER_KEY: EventBroker(url=BROKER_URL),
    }

    def tick() -> str:
        context = dg.build_sensor_context(instance=instance, resources=resources)
        result = sensor(context)
        dispatch(instance, sinks.alerting)
        return str(result.skip_message)

    for _ in range(2):  # still one breach
        assert tick().startswith("lag error:")
    [page] = sinks.webhook()
    assert (page["event"], page["severity"], page["kind"]) == ("firing", "critical", "lag")
    assert (page["asset"], page["owner"]) == (stream.table, "team:logistics")
    assert "3 message(s) waiting in its queue" in page["text"]
    assert "the newest event landed 20m ago" in page["text"]
    assert "warn after 5m, error after 15m" in page["text"]

    metrics = PlatformMetrics()
    broker = EventBroker(url=BROKER_URL)
    metrics.observe_stream(stream, stream_lag(warehouse, broker, stream.table, clock["now"]))
    sample = metrics.registry.get_sample_value
    labels = {"stream": stream.table}
    assert sample("platform_stream_queue_depth", labels) == 3
    assert sample("platform_stream_lag_seconds", labels) == 20 * 60
    assert sample("platform_stream_lag_state", labels) == 2

    channel.queue_purge(stream.table)  # the consumer caught up: the queue is empty
    assert tick().startswith("lag ok:")
    assert [p["event"] for p in sinks.webhook()] == ["firing", "resolved"]
    metrics.observe_stream(stream, stream_lag(warehouse, broker, stream.table, clock["now"]))
    assert (
        sample("platform_stream_queue_depth", labels),
        sample("platform_stream_lag_seconds", labels),
    ) == (0, 0)


def test_without_a_broker_no_lag_alert_is_raised(
    sinks, instance: dg.DagsterInstance, stream: Contract, tmp_path: Path
) -> None:
    never = tmp_path / "never"
    sensor = build_lag_alert_sensor(stream, BROKER_KEY)
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "warehouse": Warehouse(url=f"duckdb:///{never / 'warehouse.duckdb'}"),
            "alerting": sinks.alerting,
            BROKER_KEY: EventBroker(url=""),
        },
    )
    result = sensor(context)
    assert "no broker configured (PLATFORM_RABBITMQ_URL is not set)" in str(result.skip_message)
    assert sinks.webhook() == [] and not never.exists()
