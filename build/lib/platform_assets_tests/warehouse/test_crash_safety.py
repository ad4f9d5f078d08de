"""SIGKILL a real loader at random points: the partition is always all old or all new.

Each trial starts a child that replaces one PostgreSQL partition through
``Warehouse.partition_writer`` (alternating two versions of the same deterministic rows)
and kills it with SIGKILL after a random step: before the DELETE, mid-COPY, after the
last chunk while the stream and the quarantine are being flushed and committed. A reader
thread polls the partition throughout. Afterwards the partition is re-run and must equal
the source exactly.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.warehouse.children import PartitionReader, drain, loader
from platform_assets_tests.warehouse.dataset import (
    DAY,
    EVENTS,
    OTHER_DAY,
    expected_rows,
    fetch_events,
    load_events,
)

ROWS, CHUNK, QUARANTINE_EVERY = 60_000, 3_000, 5
CHUNKS = ROWS // CHUNK
QUARANTINED = len(range(0, CHUNKS, QUARANTINE_EVERY))
TRIALS = 14


def fingerprint(warehouse: Warehouse) -> tuple:
    """Rows, distinct keys and the amount total (which differs between the two versions)."""
    [row] = warehouse.query(
        'SELECT count(*), count(DISTINCT "event_id"), sum("amount") '
        'FROM "raw"."order events" WHERE "date" = :day',
        {"day": DAY},
    )
    return tuple(row)


def version_fingerprint(version: int) -> tuple:
    total = sum((r[3] for r in expected_rows(DAY, ROWS, version)), Decimal(0))
    return (ROWS, ROWS, total)


def kill_at_random_step(rng: random.Random, url: str, version: int) -> list[str]:
    """Run one loader; kill it after a random message (-1: during start-up) plus jitter."""
    step = rng.randint(-1, CHUNKS)  # 0: after "started"; CHUNKS: after the last chunk
    with loader(
        url=url, day=DAY, rows=ROWS, chunk=CHUNK, version=version,
        quarantine_every=QUARANTINE_EVERY, run_id=f"run-{version}",
    ) as child:  # fmt: skip
        received: list[str] = []
        while len(received) <= step and child.messages.poll(30):
            try:
                received.append(child.messages.recv())
            except EOFError:
                break
        time.sleep(rng.uniform(0, 0.2 if step < 0 else 0.015))
        child.process.kill()
        child.process.join()
        return received + drain(child.messages)


def test_sigkill_at_random_points_never_exposes_a_partial_partition(pg_warehouse_url) -> None:
    url = pg_warehouse_url
    warehouse = Warehouse(url=url)
    load_events(url, OTHER_DAY, 1_000, 500)
    neighbour = fetch_events(warehouse, OTHER_DAY)
    allowed = {None: (0, 0, None), 0: version_fingerprint(0), 1: version_fingerprint(1)}
    rng = random.Random(20260310)
    interrupted = 0
    with PartitionReader(url, DAY) as reader:
        for trial in range(TRIALS):
            messages = kill_at_random_step(rng, url, version=trial % 2)
            interrupted += "committed" not in messages
            assert fingerprint(warehouse) in allowed.values(), (trial, messages)
        load_events(url, DAY, ROWS, CHUNK, quarantine_every=QUARANTINE_EVERY, run_id="rerun")
    assert interrupted >= TRIALS // 2, "most kills must land before the commit"
    assert reader.polls > TRIALS
    assert reader.seen <= {(0, 0), (ROWS, QUARANTINED)}, reader.seen
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS)
    assert warehouse.query(
        'SELECT run_id, count(*) FROM "platform"."quarantine" WHERE asset = :asset '
        "AND partition_key = :key GROUP BY run_id",
        {"asset": "events", "key": DAY.isoformat()},
    ) == [("rerun", QUARANTINED)]
    assert fetch_events(warehouse, OTHER_DAY) == neighbour
    assert warehouse.count(EVENTS) == ROWS + 1_000
