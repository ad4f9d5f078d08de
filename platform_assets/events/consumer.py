"""The event consumer: a long-running process draining a queue into the landing tables.

    PLATFORM_RABBITMQ_URL=amqp://... make consume      # or platform-consume, python -m ...

Messages are landed in batches (``--batch-size`` events or ``--batch-seconds`` after the
batch's first message, whichever comes first), one warehouse transaction per batch, and
acknowledged (``multiple=True`` up to the batch's last delivery tag) only after that
transaction committed. A crash anywhere leaves the unacknowledged messages in the broker,
which redelivers them; the landing table's primary key turns the redelivery into a no-op
(``writer.py``). So delivery is at least once and landing exactly once. A batch lands on a
writer thread while the next one fills, and batches are acknowledged in order.

- Prefetch (``basic_qos``) bounds what is in memory: at most ``--prefetch`` messages.
- Broker lost: reconnect with exponential backoff and full jitter, forever, logging each try.
- Warehouse down: the batch is held, nothing is acknowledged, the transaction is retried
  with backoff while the main thread keeps the connection's heartbeats going; everything
  beyond the prefetch waits in the broker.
  A warehouse URL that can never work (unknown database, refused password) stops the
  consumer at start (exit 2); once it has worked, any connection fault is an outage.
- Poison messages (not UTF-8, not a JSON object, no event id) go to the quarantine table
  with their reason in the same transaction and are acknowledged with their batch: a
  poison message is never requeued.
- SIGTERM/SIGINT: the current batch is landed and acknowledged, then exit 0.
- ``--drain``: exit 0 once the queue is empty (``make run``, tests, the benchmark).

Progress and lag go to the log every ``--progress-seconds`` (``PLATFORM_LOG_FORMAT=json``
for JSON lines): events landed, duplicates, quarantined, rate, queue depth, and lag (how
long the oldest message of the last batch waited since it was published).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pika
import pika.exceptions

from platform_assets.events.broker import (
    BROKER_URL_ENV,
    QUEUE_ENV,
    broker_url,
    declare_queue,
    events_queue,
    parameters,
    shown,
)
from platform_assets.events.decode import decode
from platform_assets.events.writer import Landed, Received, land_batch
from platform_assets.observability.structured import PipelineLog, log_format
from platform_assets.sources.retry import backoff_delay
from platform_assets.warehouse.faults import (
    PermanentDatabaseError,
    classify,
    database_faults,
    url_password,
)
from platform_assets.warehouse.landing import ensure_landing_tables
from platform_assets.warehouse.sessions import transaction

WAREHOUSE_URL_ENV = "PLATFORM_WAREHOUSE_URL"
IDLE_POLL_S = 0.25
IO_SLICE_S = 0.02
# --drain: the queue counts as empty after this long without a delivery AND a depth of 0.
# The depth alone is not enough: a quorum queue with a large backlog answered a passive
# declare with message_count=0 here while it was still starting to deliver.
DRAIN_IDLE_S = 2.0
# A warehouse that does not answer must not hang a batch (and the heartbeats) forever.
PG_CONNECT_TIMEOUT_S = "10"
AUTH_ERRORS = (
    pika.exceptions.ProbableAuthenticationError,
    pika.exceptions.ProbableAccessDeniedError,
    pika.exceptions.AuthenticationError,
)
BROKER_ERRORS = (pika.exceptions.AMQPError, ConnectionError)
# Channel closed with ACCESS_REFUSED, NOT_FOUND, PRECONDITION_FAILED (the queue exists with
# other arguments, e.g. as a classic queue): configuration errors, not outages.
REFUSALS = frozenset({403, 404, 406})


@dataclass(frozen=True)
class Settings:
    broker_url: str
    warehouse_url: str
    queue: str
    stream: str  # landing.<stream>
    batch_size: int = 2000
    batch_seconds: float = 1.0
    prefetch: int = 4000
    drain: bool = False
    progress_seconds: float = 5.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 30.0
    max_reconnects: int | None = None  # None: a long-running consumer never gives up

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.prefetch < self.batch_size:
            raise ValueError(
                f"need 1 <= batch size <= prefetch, got {self.batch_size} and {self.prefetch}"
            )
        if self.batch_seconds <= 0:
            raise ValueError(f"batch seconds must be > 0, got {self.batch_seconds}")


@dataclass
class Delivery:
    tag: int
    received: Received
    published: int | None  # AMQP timestamp (s) set by the publisher, if any
    redelivered: bool


@dataclass
class Totals:
    landed: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    redelivered: int = 0
    lag_s: float | None = None

    def add(self, result: Landed, batch: Sequence[Delivery]) -> None:
        self.landed += result.landed
        self.duplicates += result.duplicates
        self.quarantined += result.quarantined
        self.batches += 1
        self.redelivered += sum(d.redelivered for d in batch)
        stamps = [d.published for d in batch if d.published is not None]
        self.lag_s = max(0.0, time.time() - min(stamps)) if stamps else None


@dataclass
class InFlight:
    future: Future
    batch: list[Delivery]


class WarehouseDownAtStop(Exception):
    """Asked to stop while the warehouse was down: the batch stays in the broker."""


class BrokerUnavailable(Exception):
    """No broker to consume from (refused us, or down longer than we were told to wait)."""


class BrokerRefused(BrokerUnavailable):
    """The broker refused our credentials or vhost: no retry can fix that."""


@dataclass
class Consumer:
    settings: Settings
    log: PipelineLog
    rng: random.Random = field(default_factory=random.Random)
    stopping: bool = False
    totals: Totals = field(default_factory=Totals)
    _pending: deque = field(default_factory=deque)
    _writer: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="land")
    )
    _tables_ready: bool = False
    _last_progress: float = 0.0
    _last_landed: int = 0
    _last_delivery: float = 0.0

    def stop(self, signum: int = signal.SIGTERM, frame: object = None) -> None:
        """Signal handler: finish the current batch, then leave."""
        self.stopping = True

    def run(self) -> int:
        try:
            return self._run()
        finally:  # a writer thread still retrying an outage gives up: nothing was acked
            self.stopping = True
            self._writer.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> int:
        self._prepare_warehouse()
        attempt = 0
        while not self.stopping:
            try:
                if self._connection_life():
                    break  # drained
                attempt = 0
            except AUTH_ERRORS as exc:
                raise BrokerRefused(
                    f"broker {shown(self.settings.broker_url)} refused the connection "
                    f"({type(exc).__name__}); check {BROKER_URL_ENV}"
                ) from exc
            except BROKER_ERRORS as exc:
                if isinstance(exc, pika.exceptions.ChannelClosedByBroker) and (
                    exc.reply_code in REFUSALS
                ):
                    raise BrokerRefused(  # no retry changes the queue's type or our rights
                        f"broker refused queue {self.settings.queue}: {exc.reply_code} "
                        f"{exc.reply_text}"
                    ) from exc
                limit = self.settings.max_reconnects
                if limit is not None and attempt >= limit:
                    raise BrokerUnavailable(
                        f"broker {shown(self.settings.broker_url)} unavailable after {attempt} "
                        f"reconnects ({type(exc).__name__}); check {BROKER_URL_ENV}"
                    ) from exc
                delay = backoff_delay(attempt, *self._backoff(), self.rng)
                attempt += 1
                self.log.warning(
                    f"broker connection lost or refused ({type(exc).__name__}: {exc}); "
                    f"reconnecting in {delay:.1f} s (attempt {attempt}); unacknowledged "
                    "messages go back to the queue"
                )
                self._sleep(delay)
        self._progress(None, force=True)
        self.log.info("consumer stopped")
        return 0

    def _backoff(self) -> tuple[float, float]:
        return self.settings.backoff_base_s, self.settings.backoff_cap_s

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _prepare_warehouse(self) -> None:
        """The landing tables exist before the first message is taken; a URL that can
        never work stops us here (PermanentDatabaseError), an outage is waited out."""
        url = self.settings.warehouse_url
        attempt = 0
        while True:
            try:
                with database_faults(WAREHOUSE_URL_ENV, (url, url_password(url))):
                    with transaction(url) as session:
                        ensure_landing_tables(session, self.settings.stream)
                self._tables_ready = True
                return
            except PermanentDatabaseError:
                raise
            except Exception as exc:
                reason = warehouse_fault(exc)
                if reason is None:
                    raise
                if self.stopping:
                    raise WarehouseDownAtStop(
                        f"stopped before the warehouse answered ({reason})"
                    ) from exc
                delay = backoff_delay(attempt, *self._backoff(), self.rng)
                attempt += 1
                self.log.error(f"warehouse unavailable at start ({reason}); retry in {delay:.1f} s")
                self._sleep(delay)

    def _connection_life(self) -> bool:
        """One broker connection, from open to loss or stop; True when the queue drained."""
        s = self.settings
        params = parameters(s.broker_url, f"platform-consume:{s.queue}")
        connection = pika.BlockingConnection(params)
        self._pending.clear()  # what an earlier connection delivered is being redelivered
        self._last_delivery = time.monotonic()
        try:
            channel = connection.channel()
            channel.basic_qos(prefetch_count=s.prefetch)
            ready = declare_queue(channel, s.queue)
            self.log.info(
                f"consuming {s.queue} on {shown(s.broker_url)} into landing.{s.stream}: "
                f"{ready} messages ready; batches of {s.batch_size} or {s.batch_seconds} s, "
                f"prefetch {s.prefetch}"
            )
            channel.basic_consume(s.queue, self._on_message, auto_ack=False)
            return self._consume(connection, channel)
        finally:
            if connection.is_open:
                connection.close()

    def _on_message(self, channel, method, properties, body: bytes) -> None:  # noqa: ANN001
        received = Received(decode(body), datetime.now(UTC))
        published = properties.timestamp if isinstance(properties.timestamp, int) else None
        self._pending.append(Delivery(method.delivery_tag, received, published, method.redelivered))
        self._last_delivery = time.monotonic()

    def _consume(self, connection: pika.BlockingConnection, channel) -> bool:  # noqa: ANN001
        """Fill batch k+1 while batch k lands on the writer thread; ack k once committed."""
        in_flight: InFlight | None = None
        try:
            while not self.stopping:
                batch = self._fill(connection)
                if in_flight is not None:
                    self._finish(connection, channel, in_flight)
                    in_flight = None
                if batch:
                    in_flight = InFlight(self._writer.submit(self._land, batch), batch)
                elif self.settings.drain and self._drained(channel):
                    return True
                self._progress(channel)
            if in_flight is not None:  # stopping: the current batch still lands and is acked
                self._finish(connection, channel, in_flight)
            return False
        except BaseException:
            if in_flight is not None:  # never ack it on another connection: it will be
                in_flight.future.cancel()  # redelivered and land as a no-op if it committed
            raise

    def _finish(self, connection: pika.BlockingConnection, channel, job: InFlight) -> None:  # noqa: ANN001
        """Wait for the batch's commit while serving the connection, then acknowledge it."""
        while not job.future.done():
            connection.process_data_events(time_limit=IO_SLICE_S)  # heartbeats, deliveries
        result = job.future.result()  # a fault that is no outage fails loudly here
        channel.basic_ack(job.batch[-1].tag, multiple=True)  # only after the commit
        self.totals.add(result, job.batch)

    def _fill(self, connection: pika.BlockingConnection) -> list[Delivery]:
        """Up to batch_size deliveries, waiting at most batch_seconds after the first."""
        s = self.settings
        batch: list[Delivery] = []
        deadline: float | None = None
        while not self.stopping:
            while self._pending and len(batch) < s.batch_size:
                batch.append(self._pending.popleft())
            if len(batch) >= s.batch_size:
                break
            now = time.monotonic()
            if batch and deadline is None:
                deadline = now + s.batch_seconds
            if deadline is not None and now >= deadline:
                break
            wait = IDLE_POLL_S if deadline is None else min(IDLE_POLL_S, deadline - now)
            connection.process_data_events(time_limit=wait)
            if deadline is None and not self._pending:
                break  # idle: let the caller log progress or notice a drained queue
        return batch

    def _land(self, batch: list[Delivery]) -> Landed:
        """One transaction for the batch, retried while the warehouse is down (writer thread:
        the main thread keeps the broker connection and its heartbeats alive meanwhile)."""
        received = [d.received for d in batch]
        attempt = 0
        while True:
            try:
                with transaction(self.settings.warehouse_url) as session:
                    if not self._tables_ready:
                        ensure_landing_tables(session, self.settings.stream)
                    result = land_batch(session, self.settings.stream, received)
                self._tables_ready = True
                return result
            except Exception as exc:
                reason = warehouse_fault(exc)
                if reason is None:
                    raise
                self._tables_ready = False
                if self.stopping:
                    raise WarehouseDownAtStop(
                        f"stopped while the warehouse was down ({reason}): the batch of "
                        f"{len(batch)} messages stays in the broker, unacknowledged"
                    ) from exc
                delay = backoff_delay(attempt, *self._backoff(), self.rng)
                attempt += 1
                self.log.error(
                    f"warehouse unavailable ({reason}): batch of {len(batch)} held, nothing "
                    f"acknowledged; retry {attempt} in {delay:.1f} s"
                )
                self._sleep(delay)

    def _drained(self, channel) -> bool:  # noqa: ANN001
        idle = time.monotonic() - self._last_delivery >= DRAIN_IDLE_S
        return idle and not self._pending and self._queue_ready(channel) == 0

    def _queue_ready(self, channel) -> int:  # noqa: ANN001
        return channel.queue_declare(self.settings.queue, passive=True).method.message_count

    def _progress(self, channel, force: bool = False) -> None:  # noqa: ANN001
        now = time.monotonic()
        elapsed = now - self._last_progress
        if not force and elapsed < self.settings.progress_seconds:
            return
        t = self.totals
        depth = self._queue_ready(channel) if channel is not None and channel.is_open else None
        rate = (t.landed - self._last_landed) / elapsed if self._last_progress else 0.0
        self._last_progress, self._last_landed = now, t.landed
        lag = "-" if t.lag_s is None else f"{t.lag_s:.1f} s"
        self.log.bind(
            landed=t.landed,
            duplicates=t.duplicates,
            quarantined=t.quarantined,
            batches=t.batches,
            redelivered=t.redelivered,
            events_per_s=round(rate, 1),
            queue_depth=depth,
            lag_s=None if t.lag_s is None else round(t.lag_s, 3),
        ).info(
            f"landed {t.landed} events ({rate:.0f}/s), {t.duplicates} duplicates, "
            f"{t.quarantined} quarantined, {t.batches} batches, {t.redelivered} redelivered; "
            f"queue depth "
            f"{'-' if depth is None else depth} ready; lag {lag}"
        )


def warehouse_fault(exc: BaseException) -> str | None:
    """Why the warehouse failed, when it is a database fault to wait out; else None."""
    fault = classify(exc)  # DuckDB's file lock held by another process is transient too
    return None if fault is None else f"{fault.kind}: {fault.reason}"


def settings_from(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    from platform_assets.home import embedded_warehouse_url

    url = broker_url(env)
    if url is None:
        raise ValueError(f"{BROKER_URL_ENV} is not set: no broker to consume from")
    return Settings(
        broker_url=url,
        warehouse_url=env.get(WAREHOUSE_URL_ENV) or embedded_warehouse_url(env),
        queue=(queue := args.queue or events_queue(env)),
        stream=args.stream or queue,
        batch_size=args.batch_size,
        batch_seconds=args.batch_seconds,
        prefetch=args.prefetch or 2 * args.batch_size,
        drain=args.drain,
        progress_seconds=args.progress_seconds,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-consume", description="Land events from RabbitMQ in the warehouse."
    )
    parser.add_argument(
        "--queue", help=f"default ${QUEUE_ENV}, else the one stream declared in defs/"
    )
    parser.add_argument("--stream", default=None, help="landing.<stream>; default the queue")
    parser.add_argument("--batch-size", type=int, default=Settings.batch_size)
    parser.add_argument("--batch-seconds", type=float, default=Settings.batch_seconds)
    parser.add_argument("--prefetch", type=int, default=None, help="default 2 x batch size")
    parser.add_argument("--drain", action="store_true", help="exit once the queue is empty")
    parser.add_argument("--progress-seconds", type=float, default=5.0)
    return parser


def consumer_log(stream: str, queue: str) -> PipelineLog:
    """Text lines on stderr; with PLATFORM_LOG_FORMAT=json also JSON lines on stdout."""
    logger = logging.getLogger("platform_assets.events.consumer")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    fields = {"component": "event_consumer", "stream": stream, "queue": queue}
    return PipelineLog(logger, fields, as_json=log_format() == "json")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("PGCONNECT_TIMEOUT", PG_CONNECT_TIMEOUT_S)
    try:
        settings = settings_from(args, os.environ)
    except ValueError as exc:
        print(f"platform-consume: {exc}", file=sys.stderr)
        return 2
    consumer = Consumer(settings, consumer_log(settings.stream, settings.queue))
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    try:
        return consumer.run()
    except (PermanentDatabaseError, BrokerUnavailable) as exc:  # names variables, never values
        consumer.log.error(str(exc))
        return 2
    except WarehouseDownAtStop as exc:
        consumer.log.warning(str(exc))
        return 0


if __name__ == "__main__":
    sys.exit(main())
