"""Event path benchmark: ``python -m bench.queue`` (part of ``make bench``).

For each size in ``--events`` (100k and 1M), the same shipment events are published once
through a fanout exchange into two durable quorum queues, then drained from each:

* landed: the platform's consumer (``platform_assets.events.consumer --drain``, a child
  process, batches of ``--batch-size``) lands them into a fresh PostgreSQL database;
  events/s from its connection to its exit with the queue empty (less the 2 s without a
  delivery that ``--drain`` waits for), every event landed;
* ceiling: a bare pika client (``bench.queue_ceiling``) consumes and acknowledges the same
  messages with the same prefetch and acknowledgement pattern, landing nothing.

Peak RSS is the consumer's (``ru_maxrss``) per size. Then ``--kill-trials`` SIGKILLs of the
consumer at random points while ``--kill-events`` events (10% duplicate deliveries) are being
published, a final drain, and the count of events lost (published, never landed) and
duplicated (landed twice) across all trials.

Needs RabbitMQ (PLATFORM_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672/%2F) and
PostgreSQL (PLATFORM_BENCH_POSTGRES_URL, default the test server). Results:
``bench/results/queue.json`` and a table. The machine is shared (2 cores): treat
differences under ~15% as noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import psycopg
from psycopg import sql

from bench.args import counts, positive
from platform_assets.demo.events import EventMix, shipment_messages
from platform_assets.demo.publish import publish
from platform_assets.events.broker import LOCAL_BROKER_URL, QUEUE_ARGUMENTS, parameters
from platform_assets.events.consumer import DRAIN_IDLE_S, Settings
from platform_assets.processes import child_preexec, stop_group

RESULTS = Path(__file__).parent / "results" / "queue.json"
POSTGRES_URL = os.environ.get(
    "PLATFORM_BENCH_POSTGRES_URL",
    os.environ.get("PLATFORM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
BROKER_URL = os.environ.get("PLATFORM_RABBITMQ_URL", LOCAL_BROKER_URL)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"bench_queue_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{server_url.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def twin_queues(broker_url: str) -> Iterator[tuple[str, str, str]]:
    """Two quorum queues fed by one fanout exchange: (exchange, landed queue, ceiling queue)."""
    base = f"bench_events_{uuid.uuid4().hex[:8]}"
    exchange, landed, ceiling = base, f"{base}_landed", f"{base}_ceiling"
    with broker_channel(broker_url) as channel:
        channel.exchange_declare(exchange, "fanout", durable=True)
        for queue in (landed, ceiling):
            channel.queue_declare(queue, durable=True, arguments=QUEUE_ARGUMENTS)
            channel.queue_bind(queue, exchange)
    try:
        yield exchange, landed, ceiling
    finally:  # a connection of its own: one kept idle for minutes would miss its heartbeats
        with broker_channel(broker_url) as channel:
            for queue in (landed, ceiling):
                channel.queue_delete(queue)
            channel.exchange_delete(exchange)


@contextmanager
def broker_channel(broker_url: str) -> Iterator[Any]:
    connection = pika.BlockingConnection(parameters(broker_url, "bench-queue-setup"))
    try:
        yield connection.channel()
    finally:
        connection.close()


def consumer_command(queue: str, batch_size: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "platform_assets.events.consumer", "--queue", queue,
            "--batch-size", str(batch_size), "--progress-seconds", "10", *extra]  # fmt: skip


def consumer_env(warehouse_url: str) -> dict[str, str]:
    return {**os.environ, "PLATFORM_RABBITMQ_URL": BROKER_URL,
            "PLATFORM_WAREHOUSE_URL": warehouse_url}  # fmt: skip


def start_consumer(queue: str, warehouse_url: str, batch_size: int, *extra: str) -> tuple:
    """The consumer as a child; returns it once connected, and a list collecting its log."""
    proc = subprocess.Popen(
        consumer_command(queue, batch_size, *extra),
        env=consumer_env(warehouse_url),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        preexec_fn=child_preexec(),
    )
    lines: list[str] = []
    for line in proc.stderr:  # type: ignore[union-attr]
        lines.append(line)
        if "consuming" in line:
            break
    else:
        raise RuntimeError(f"consumer exited before consuming:\n{''.join(lines)}")
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    return proc, lines


def landed_ids(warehouse_url: str, queue: str) -> list[str]:
    with psycopg.connect(warehouse_url) as conn:
        query = sql.SQL("SELECT event_id FROM landing.{}").format(sql.Identifier(queue))
        return [row[0] for row in conn.execute(query)]


def run_landed(queue: str, count: int, batch_size: int) -> tuple[float, float]:
    """Events/s into a fresh database and the consumer's peak RSS in MB."""
    with fresh_database(POSTGRES_URL) as warehouse:
        proc, lines = start_consumer(queue, warehouse, batch_size, "--drain")
        started = time.perf_counter()
        _, status, usage = os.wait4(proc.pid, 0)
        # --drain waits DRAIN_IDLE_S without deliveries before it calls the queue empty
        seconds = time.perf_counter() - started - DRAIN_IDLE_S
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"consumer exited {proc.returncode}:\n{''.join(lines[-30:])}")
        landed = len(landed_ids(warehouse, queue))
        if landed != count:
            raise RuntimeError(f"{landed} of {count} events landed")
    return count / seconds, usage.ru_maxrss / 1024


def run_ceiling(queue: str, count: int, batch_size: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.queue_ceiling",
            BROKER_URL,
            queue,
            str(count),
            str(batch_size),
        ],  # fmt: skip
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    return result["events"] / result["seconds"]


def bench_size(count: int, batch_size: int, seed: int) -> dict[str, Any]:
    bodies = (m.body for m in shipment_messages(EventMix(count=count, seed=seed)))
    with twin_queues(BROKER_URL) as (exchange, landed_queue, ceiling_queue):
        stats = publish(BROKER_URL, landed_queue, bodies, exchange=exchange)
        print(f"{count}: published in {stats.seconds:.1f} s", flush=True)
        ceiling = run_ceiling(ceiling_queue, count, batch_size)
        print(f"{count}: ceiling {ceiling:,.0f} events/s", flush=True)
        landed, rss = run_landed(landed_queue, count, batch_size)
        print(f"{count}: landed {landed:,.0f} events/s, peak RSS {rss:.0f} MB", flush=True)
    return {
        "landed_events_s": round(landed),
        "ceiling_events_s": round(ceiling),
        "ratio": round(landed / ceiling, 3),
        "rss_mb": round(rss, 1),
        "publish_events_s": round(count / stats.seconds),
    }


def kill_trials(trials: int, events: int, batch_size: int, seed: int) -> dict[str, int]:
    """SIGKILL the consumer ``trials`` times while publishing; then count lost/duplicated."""
    rng = random.Random(seed)
    messages = list(shipment_messages(EventMix(count=events, duplicate_share=0.1, seed=seed)))
    expected = {m.event_id for m in messages if m.event_id is not None}
    queue = f"bench_kill_{uuid.uuid4().hex[:8]}"
    errors: list[BaseException] = []

    def produce() -> None:
        rate = len(messages) / (2.5 * trials)  # spread over the trials (~2.5 s each)
        try:
            publish(BROKER_URL, queue, (m.body for m in messages), rate=rate)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    proc: subprocess.Popen | None = None
    with fresh_database(POSTGRES_URL) as warehouse:
        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        try:
            for _ in range(trials):
                proc, _ = start_consumer(queue, warehouse, batch_size)
                time.sleep(rng.uniform(0.05, 2.0))
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)
            producer.join()
            if errors:
                raise errors[0]
            proc, lines = start_consumer(queue, warehouse, batch_size, "--drain")
            if proc.wait(timeout=600) != 0:
                raise RuntimeError(f"final drain failed:\n{''.join(lines[-30:])}")
            ids = landed_ids(warehouse, queue)
        finally:
            if proc is not None:
                stop_group(proc, timeout_s=10)
            with broker_channel(BROKER_URL) as channel:
                channel.queue_delete(queue)
    return {"lost": len(expected - set(ids)), "duplicated": len(ids) - len(set(ids)),
            "kill_trials": trials, "kill_events": len(messages)}  # fmt: skip


def queue_and_count(text: str) -> tuple[str, int]:
    """``--landed-only QUEUE:COUNT``: the queue's events to wait for (a name may hold ':')."""
    queue, _, count = text.rpartition(":")
    if not queue or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected QUEUE:COUNT like orders:100000, got {text!r}")
    return queue, int(count)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.queue", description=__doc__)
    parser.add_argument(
        "--events", type=counts, default=[100_000, 1_000_000], help="sizes, comma-separated"
    )
    parser.add_argument("--batch-size", type=positive, default=Settings.batch_size)
    parser.add_argument("--kill-trials", type=positive, default=10)
    parser.add_argument("--kill-events", type=positive, default=20000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument(
        "--landed-only",
        type=queue_and_count,
        metavar="QUEUE:COUNT",
        help="time the consumer on an existing queue",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.landed_only:
        queue, count = args.landed_only
        rate, rss = run_landed(queue, count, args.batch_size)
        print(json.dumps({"landed_events_s": round(rate), "rss_mb": round(rss, 1)}))
        return 0
    sizes = args.events
    started = time.perf_counter()
    per_size = {str(n): bench_size(n, args.batch_size, args.seed) for n in sizes}
    kills = kill_trials(args.kill_trials, args.kill_events, args.batch_size, args.seed)
    largest = per_size[str(max(sizes))]
    results = {
        "landed_events_s": largest["landed_events_s"],
        "ceiling_events_s": largest["ceiling_events_s"],
        "ratio": largest["ratio"],
        "rss_mb": {n: r["rss_mb"] for n, r in per_size.items()},
        **kills,
        "sizes": per_size,
        "batch_size": args.batch_size,
        "prefetch": 2 * args.batch_size,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "bench_seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    print(f"\n{'events':>9} {'landed/s':>10} {'ceiling/s':>10} {'ratio':>6} {'RSS MB':>7}")
    for n, r in results["sizes"].items():
        print(f"{int(n):>9,} {r['landed_events_s']:>10,} {r['ceiling_events_s']:>10,} "
              f"{r['ratio']:>6.2f} {r['rss_mb']:>7.0f}")  # fmt: skip
    print(f"kill trials: {results['kill_trials']}, lost {results['lost']}, "
          f"duplicated {results['duplicated']}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
