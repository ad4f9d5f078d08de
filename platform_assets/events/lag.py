"""Queue depth and consumer lag, measured from outside the consumer (for metrics, alerts).

``queue_depth`` asks the broker (``broker.py``). ``consumer_lag_seconds`` asks the
warehouse: while messages wait in the queue, how long since the consumer last landed
anything. A healthy consumer keeps it near its batch interval even under a backlog; a dead
or stuck one (or a warehouse outage) makes it grow without bound, which is what an alert
wants. An empty queue has no lag. The consumer's own log also reports, per batch, how long
the oldest message had waited since it was published.
"""

from __future__ import annotations

from datetime import UTC, datetime

from platform_assets.events.broker import QueueDepth, queue_depth
from platform_assets.warehouse.landing import landing_quarantine_table, landing_table
from platform_assets.warehouse.sessions import transaction

__all__ = ["QueueDepth", "consumer_lag_seconds", "last_landed_at", "queue_depth"]


def last_landed_at(warehouse_url: str, stream: str) -> datetime | None:
    """When the consumer last landed an event or a poison message of ``stream``."""
    with transaction(warehouse_url) as session:
        rows = session.execute(
            f"SELECT max(received_at) FROM {landing_table(stream)} UNION ALL "  # noqa: S608 - quoted
            f"SELECT max(received_at) FROM {landing_quarantine_table(stream)}"
        )
    stamps = [row[0] for row in rows if row[0] is not None]
    return max(stamps) if stamps else None


def consumer_lag_seconds(
    warehouse_url: str, stream: str, depth: QueueDepth, now: datetime | None = None
) -> float:
    """0 when nothing waits; else seconds since the last landing (or since ever: inf)."""
    if depth.ready == 0:
        return 0.0
    last = last_landed_at(warehouse_url, stream)
    if last is None:
        return float("inf")
    return max(0.0, ((now or datetime.now(UTC)) - last).total_seconds())
