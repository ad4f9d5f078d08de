"""The consumer against the real broker and a real PostgreSQL warehouse, as a child process.

Every test publishes on its own queue and lands into its own database, then checks the
landing table holds each published event id exactly once.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from platform_assets.demo.__main__ import main as demo_main
from platform_assets.demo.events import EventMix, shipment_messages
from platform_assets.demo.publish import publish
from platform_assets.events.broker import queue_depth
from platform_assets.events.lag import consumer_lag_seconds
from platform_assets_tests.events.conftest import (
    ConsumerProcess,
    landed,
    publish_in_background,
    quarantined,
    settled_depth,
    wait_landed,
)
from platform_assets_tests.events.proxy import CuttableProxy

KILL_TRIALS = 5


def assert_exactly_once(warehouse_url: str, stream: str, expected: set[str]) -> None:
    ids = landed(warehouse_url, stream)
    assert len(ids) == len(set(ids))
    assert set(ids) == expected, (len(set(ids) - expected), len(expected - set(ids)))


def test_sigkill_at_random_points_lands_every_event_exactly_once(
    rabbitmq_url: str,
    queue: str,
    make_pg_database: Callable[[], str],
    make_consumer: Callable[..., ConsumerProcess],
) -> None:
    warehouse = make_pg_database()
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    mix = EventMix(count=2000, duplicate_share=0.1, late_share=0.1, seed=seed)
    # ~11 s of publishing: the first kills land mid-stream, with deliveries unacknowledged
    publication = publish_in_background(rabbitmq_url, queue, mix, rate=200)
    # totals logged after every batch: a restart killed soon after landing what its
    # predecessor left unacknowledged still says so
    consumer = make_consumer(rabbitmq_url, warehouse, queue, "--progress-seconds", "0.05")
    for trial in range(1, KILL_TRIALS + 1):
        consumer.start()
        consumer.wait_log("consuming", count=trial)
        time.sleep(rng.uniform(0.05, 1.5))  # a random point: filling, landing or acking
        consumer.kill()
    publication.join()
    assert consumer.start("--drain").wait() == 0, consumer.log()[-3000:]
    assert_exactly_once(warehouse, queue, publication.landed_ids)
    assert queue_depth(rabbitmq_url, queue).ready == 0
    assert _redelivered(consumer), f"no kill left a delivery unacknowledged (seed {seed})"


def _redelivered(consumer: ConsumerProcess) -> bool:
    """A restart found deliveries a killed consumer had not acknowledged."""
    return any(int(n) > 0 for n in re.findall(r"(\d+) redelivered", consumer.log()))


def test_broker_lost_mid_stream_consumer_reconnects_nothing_lost_or_duplicated(
    rabbitmq_url: str,
    queue: str,
    make_pg_database: Callable[[], str],
    make_consumer: Callable[..., ConsumerProcess],
) -> None:
    warehouse = make_pg_database()
    proxy = CuttableProxy(("127.0.0.1", 5672))
    try:
        via_proxy = rabbitmq_url.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
        mix = EventMix(count=1200, duplicate_share=0.05, seed=5)
        publication = publish_in_background(rabbitmq_url, queue, mix, rate=400)
        consumer = make_consumer(via_proxy, warehouse, queue).start()
        wait_landed(warehouse, queue, 300)
        proxy.cut(seconds=2.0)  # connections reset, then refused: a broker restart
        consumer.wait_log("reconnecting in", count=2)  # the first retry is refused too
        publication.join()
        wait_landed(warehouse, queue, len(publication.landed_ids))
        consumer.close()
        assert consumer.proc is not None and consumer.proc.returncode == 0
    finally:
        proxy.close()
    assert_exactly_once(warehouse, queue, publication.landed_ids)
    assert queue_depth(rabbitmq_url, queue).ready == 0
    log = consumer.log()
    assert log.count("consuming") >= 2 and "consumer stopped" in log


def test_warehouse_down_mid_stream_nothing_acknowledged_then_recovered(
    rabbitmq_url: str,
    queue: str,
    make_pg_database: Callable[[], str],
    make_consumer: Callable[..., ConsumerProcess],
    postgres_url: str,
) -> None:
    warehouse = make_pg_database()
    database = warehouse.rpartition("/")[2]
    mix = EventMix(count=1200, duplicate_share=0.05, seed=6)
    publication = publish_in_background(rabbitmq_url, queue, mix, rate=400)
    consumer = make_consumer(rabbitmq_url, warehouse, queue).start()
    wait_landed(warehouse, queue, 300)
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        name = sql.Identifier(database)
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(name))
        admin.execute(  # in-flight transactions die too
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database,),
        )
        consumer.wait_log("warehouse unavailable", count=2)
        publication.join()  # the rest is published while the warehouse is down (~3 s)
        held = queue_depth(rabbitmq_url, queue).ready
        assert held > 0  # what the consumer cannot land waits in the broker
        admin.execute(sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(name))
    wait_landed(warehouse, queue, len(publication.landed_ids))
    consumer.close()  # SIGTERM: finishes the current batch, exits 0
    assert consumer.proc is not None and consumer.proc.returncode == 0
    assert_exactly_once(warehouse, queue, publication.landed_ids)
    assert queue_depth(rabbitmq_url, queue).ready == 0


POISON = {
    b"\xff\xfe not utf-8": "not UTF-8 text",
    b'{"event_id": "n\x00l"}': "NUL character in the message",
    b'["a list"]': "not a JSON object: a list",
    b'{"event_id": 42, "type": "delivered"}': "event_id is not a non-empty string",
    b'{"event_id": ""}': "event_id is not a non-empty string",
}


def test_poison_messages_are_quarantined_with_reason_and_the_queue_drains(
    rabbitmq_url: str,
    queue: str,
    make_pg_database: Callable[[], str],
    make_consumer: Callable[..., ConsumerProcess],
    monkeypatch,
    capsys,
) -> None:
    warehouse = make_pg_database()
    monkeypatch.setenv("PLATFORM_RABBITMQ_URL", rabbitmq_url)
    args = ["publish", "--queue", queue, "--count", "400", "--defect-share", "0.3"]
    assert demo_main([*args, "--duplicate-share", "0.1", "--seed", "9"]) == 0
    assert "published" in capsys.readouterr().out
    publish(rabbitmq_url, queue, list(POISON))
    mix = EventMix(count=400, duplicate_share=0.1, defect_share=0.3, seed=9)
    messages = list(shipment_messages(mix))  # the same ids and kinds the CLI published
    consumer = make_consumer(rabbitmq_url, warehouse, queue).start("--drain")
    assert consumer.wait() == 0, consumer.log()[-3000:]

    assert_exactly_once(warehouse, queue, {m.event_id for m in messages if m.event_id})
    reasons = Counter(_kind(reason) for reason, _ in quarantined(warehouse, queue))
    expected = Counter(_kind(reason) for reason in POISON.values())
    for m in messages:
        if m.event_id is None:
            expected["malformed JSON" if m.body.rstrip()[-1:] != b"}" else "no event_id"] += 1
    assert reasons == expected
    assert queue_depth(rabbitmq_url, queue).ready == 0  # none requeued
    assert consumer.starts == 1 and consumer.log().count("consuming") == 1


def _kind(reason: str) -> str:
    return reason.split(":")[0]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


def test_backpressure_fast_producer_consumer_memory_bounded(
    rabbitmq_url: str,
    queue: str,
    make_pg_database: Callable[[], str],
    make_consumer: Callable[..., ConsumerProcess],
) -> None:
    """8,000 messages of 8 KB (64 MB) arrive much faster than they land; the consumer
    holds at most its prefetch (200 messages, under 2 MB), so its peak RSS stays far below
    the backlog: the rest waits in the broker."""
    warehouse = make_pg_database()
    padding = "x" * 8000
    bodies = [
        f'{{"event_id": "e{i}", "occurred_at": "2026-03-10T00:00:00+00:00", "pad": "{padding}"}}'
        .encode()
        for i in range(8_000)
    ]  # fmt: skip
    consumer = make_consumer(rabbitmq_url, warehouse, queue, "--prefetch", "200").start()
    consumer.wait_log("consuming")
    publish(rabbitmq_url, queue, bodies)
    depth = queue_depth(rabbitmq_url, queue)
    assert depth.ready > 2_000 and depth.consumers == 1  # the producer outran it
    assert consumer_lag_seconds(warehouse, queue, depth) >= 0.0
    wait_landed(warehouse, queue, 2_000)  # it kept landing through the backlog
    assert consumer.proc is not None
    peak = _peak_rss_mb(consumer.proc.pid)
    consumer.close()
    assert consumer.proc.returncode == 0
    assert peak < 250, f"consumer peak RSS {peak:.0f} MB for a 64 MB backlog"
    ids = landed(warehouse, queue)
    assert len(ids) == len(set(ids)) and set(ids) <= {f"e{i}" for i in range(8_000)}
    assert len(ids) + settled_depth(rabbitmq_url, queue).ready == 8_000  # nothing lost


def test_make_run_lands_what_waits_in_the_queue_and_says_so(
    rabbitmq_url: str, queue: str, tmp_path: Path
) -> None:
    from platform_assets.demo.launch import land_queued_events

    assert "no broker configured" in land_queued_events({"PLATFORM_HOME": str(tmp_path)})
    messages = list(shipment_messages(EventMix(count=30, duplicate_share=0.2, seed=3)))
    publish(rabbitmq_url, queue, [m.body for m in messages] + [b"{not json"])
    warehouse = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    env = {"PLATFORM_RABBITMQ_URL": rabbitmq_url, "PLATFORM_EVENTS_QUEUE": queue,
           "PLATFORM_WAREHOUSE_URL": warehouse}  # fmt: skip
    line = land_queued_events(env)
    duplicates = len(messages) - 30
    assert line.startswith(f"events: 30 landed, {duplicates} duplicates, 1 quarantined")
    assert "guest:***@" in line  # the broker's password never shown
    assert queue_depth(rabbitmq_url, queue).ready == 0


def test_configuration_errors_stop_the_consumer_instead_of_retrying(
    rabbitmq_url: str, queue: str, tmp_path: Path, postgres_url: str
) -> None:
    import pika
    import pytest

    from platform_assets.events.broker import parameters
    from platform_assets.events.consumer import BrokerRefused, Consumer, Settings, consumer_log
    from platform_assets.warehouse.faults import PermanentDatabaseError

    log = consumer_log(queue, queue)
    missing_db = f"{postgres_url.rpartition('/')[0]}/platform_no_such_database"
    with pytest.raises(PermanentDatabaseError, match="PLATFORM_WAREHOUSE_URL"):
        Consumer(Settings(rabbitmq_url, missing_db, queue, queue), log).run()
    connection = pika.BlockingConnection(parameters(rabbitmq_url, "test-classic-queue"))
    connection.channel().queue_declare(queue, durable=True)  # classic, not quorum
    connection.close()
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    with pytest.raises(BrokerRefused, match="406 PRECONDITION_FAILED"):
        Consumer(Settings(rabbitmq_url, warehouse, queue, queue), log).run()
