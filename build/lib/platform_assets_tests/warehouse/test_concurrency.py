"""Two runs of the same partition at once: serialised by the lock, one exact copy remains."""

from __future__ import annotations

from multiprocessing.connection import wait

from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.warehouse.children import CTX, PartitionReader, loader
from platform_assets_tests.warehouse.dataset import DAY, expected_rows, fetch_events

ROWS, CHUNK, QUARANTINE_EVERY = 40_000, 2_000, 5
QUARANTINED = len(range(0, ROWS // CHUNK, QUARANTINE_EVERY))


def test_concurrent_loads_of_one_partition_end_with_exactly_one_copy(pg_warehouse_url) -> None:
    url = pg_warehouse_url  # a fresh database: both children also race to create the tables
    start = CTX.Event()
    events: list[tuple[int, str]] = []
    with (
        PartitionReader(url, DAY) as reader,
        loader(start, url=url, day=DAY, rows=ROWS, chunk=CHUNK, version=0,
               quarantine_every=QUARANTINE_EVERY, run_id="run-0") as first,
        loader(start, url=url, day=DAY, rows=ROWS, chunk=CHUNK, version=1,
               quarantine_every=QUARANTINE_EVERY, run_id="run-1") as second,
    ):  # fmt: skip
        start.set()
        pipes = {first.messages: 0, second.messages: 1}
        while pipes:
            for ready in wait(list(pipes), timeout=60):
                try:
                    events.append((pipes[ready], ready.recv()))
                except EOFError:
                    del pipes[ready]
        for child in (first, second):
            child.process.join(60)
            assert child.process.exitcode == 0
    # The lock serialises them: the second starts (deletes) only after the first committed.
    steps = [(who, message) for who, message in events if message in ("started", "committed")]
    a, b = steps[0][0], 1 - steps[0][0]
    assert steps == [(a, "started"), (a, "committed"), (b, "started"), (b, "committed")]
    warehouse = Warehouse(url=url)
    assert fetch_events(warehouse, DAY) == expected_rows(DAY, ROWS, version=b)
    assert warehouse.query(
        'SELECT run_id, count(*) FROM "platform"."quarantine" GROUP BY run_id'
    ) == [(f"run-{b}", QUARANTINED)]
    assert reader.seen <= {(0, 0), (ROWS, QUARANTINED)}, reader.seen
