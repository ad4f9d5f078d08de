"""RabbitMQ for the event tests: the real broker, a queue of each test's own, deleted after.

Skips without a broker; fails under PLATFORM_REQUIRE_SERVICES=1 (CI starts RabbitMQ).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pika
import pika.exceptions
import psycopg
import pytest

from platform_assets.demo.events import EventMix, Message, shipment_messages
from platform_assets.demo.publish import publish
from platform_assets.events.broker import QueueDepth, parameters, queue_depth
from platform_assets.processes import child_preexec, stop_group
from platform_assets_tests.conftest import service_unavailable

RABBITMQ_URL = os.environ.get("PLATFORM_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    try:
        pika.BlockingConnection(parameters(RABBITMQ_URL, "platform-test-probe")).close()
    except pika.exceptions.AMQPError as exc:
        service_unavailable(f"RabbitMQ not reachable at 127.0.0.1:5672: {exc!r}")
    return RABBITMQ_URL


@pytest.fixture
def queue(rabbitmq_url: str) -> Iterator[str]:
    """A queue (and landing stream) name of this test's own; the queue is deleted after."""
    name = f"test_events_{uuid.uuid4().hex[:10]}"
    yield name
    connection = pika.BlockingConnection(parameters(rabbitmq_url, "platform-test-cleanup"))
    try:
        connection.channel().queue_delete(name)
    finally:
        connection.close()


@dataclass
class ConsumerProcess:
    """``python -m platform_assets.events.consumer`` as a real child process (own group)."""

    env: dict[str, str]
    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    starts: int = 0

    def start(self, *extra: str) -> ConsumerProcess:
        self.starts += 1
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "platform_assets.events.consumer", *self.args, *extra],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=child_preexec(),
            )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, count: int = 1, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while self.log().count(needle) < count:
            assert self.proc is not None and self.proc.poll() is None, self.log()[-3000:]
            assert time.monotonic() < deadline, f"no {needle!r} in:\n{self.log()[-3000:]}"
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, 9)
        self.proc.wait(timeout=10)

    def wait(self, timeout_s: float = 120) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def close(self) -> None:
        if self.proc is not None:
            stop_group(self.proc, timeout_s=10)


@pytest.fixture
def make_consumer(tmp_path: Path) -> Iterator[Callable[..., ConsumerProcess]]:
    started: list[ConsumerProcess] = []

    def make(broker_url: str, warehouse_url: str, queue: str, *args: str) -> ConsumerProcess:
        env = {
            **os.environ,
            "PLATFORM_RABBITMQ_URL": broker_url,
            "PLATFORM_WAREHOUSE_URL": warehouse_url,
            "PLATFORM_HOME": str(tmp_path / "home"),
        }
        consumer = ConsumerProcess(
            env,
            [
                "--queue",
                queue,
                "--batch-size",
                "100",
                "--batch-seconds",
                "0.2",
                "--progress-seconds",
                "1",
                *args,
            ],  # fmt: skip
            tmp_path / f"consumer{len(started)}.log",
        )
        started.append(consumer)
        return consumer

    yield make
    for consumer in started:
        consumer.close()


@dataclass
class Publication:
    """Messages published on a thread; ``join`` re-raises what went wrong there."""

    messages: list[Message]
    thread: threading.Thread | None = None
    errors: list[BaseException] = field(default_factory=list)

    def join(self, timeout_s: float = 120) -> None:
        assert self.thread is not None
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "publisher still running"
        if self.errors:
            raise self.errors[0]

    @property
    def landed_ids(self) -> set[str]:
        return {m.event_id for m in self.messages if m.event_id is not None}

    @property
    def poison(self) -> list[Message]:
        return [m for m in self.messages if m.event_id is None]


def publish_in_background(url: str, queue: str, mix: EventMix, rate: float) -> Publication:
    publication = Publication(list(shipment_messages(mix)))

    def run() -> None:
        try:
            publish(url, queue, (m.body for m in publication.messages), rate=rate)
        except BaseException as exc:  # handed to the test thread by join()
            publication.errors.append(exc)

    publication.thread = threading.Thread(target=run, daemon=True)
    publication.thread.start()
    return publication


def landed(warehouse_url: str, stream: str) -> list[str]:
    """Every event id in the landing table, duplicates included (there must be none)."""
    with psycopg.connect(warehouse_url) as conn:
        rows = conn.execute(f'SELECT event_id FROM landing."{stream}"').fetchall()  # noqa: S608
    return [row[0] for row in rows]


def quarantined(warehouse_url: str, stream: str) -> list[tuple[str, str]]:
    with psycopg.connect(warehouse_url) as conn:
        return conn.execute(
            f'SELECT reason, body FROM landing."{stream}_quarantine"'  # noqa: S608 - test name
        ).fetchall()


def settled_depth(url: str, queue: str, timeout_s: float = 30) -> QueueDepth:
    """The queue once the broker has seen its consumers go: their unacknowledged messages
    are ready again only then (RabbitMQ learns of a closed channel asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while (depth := queue_depth(url, queue)).consumers:
        assert time.monotonic() < deadline, f"{queue} still has consumers: {depth}"
        time.sleep(0.1)
    return depth


def wait_landed(warehouse_url: str, stream: str, count: int, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            got = len(landed(warehouse_url, stream))
        except psycopg.errors.UndefinedTable:
            got = 0
        if got >= count:
            return
        assert time.monotonic() < deadline, f"{got} of {count} events landed"
        time.sleep(0.1)
