"""Reading a stream's landing table: a day's events, page by page, and how much has landed.

A day's events are those whose ``occurred_at`` falls in it; an event landed without one
(the consumer could not read it) is filed under the day it was received, so the events
asset quarantines it with its reason instead of losing it. The asset and the sensor that
decides when to (re)build a day use the same condition (``DAY_CONDITION``), so the count the
sensor compares is the count of rows the asset extracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from platform_assets.warehouse.landing import ensure_landing_tables, landing_table
from platform_assets.warehouse.sessions import Session

DAY_CONDITION = (
    "((occurred_at >= :start AND occurred_at < :end)"
    " OR (occurred_at IS NULL AND received_at >= :start AND received_at < :end))"
)


@dataclass(frozen=True)
class LandedDay:
    """How many events of a day have landed, and when the newest of them arrived."""

    events: int
    newest_received_at: datetime | None


@dataclass(frozen=True)
class LandedEvent:
    event_id: str
    received_at: datetime
    body: str


def prepare_landing(session: Session, stream: str) -> None:
    """The stream's landing tables exist (empty before any consumer ran)."""
    ensure_landing_tables(session, stream)


def landed_page(
    session: Session, stream: str, start: datetime, end: datetime, after: str, limit: int
) -> list[LandedEvent]:
    """The next ``limit`` events of the day after event id ``after`` (keyset paging: memory
    is bounded by the page, and a page costs the same wherever it starts)."""
    rows = session.execute(
        f"SELECT event_id, received_at, body FROM {landing_table(stream)} "  # noqa: S608 - quoted
        f"WHERE {DAY_CONDITION} AND event_id > :after ORDER BY event_id LIMIT :limit",
        {"start": start, "end": end, "after": after, "limit": limit},
    )
    return [LandedEvent(str(r[0]), r[1], str(r[2])) for r in rows]


def landed_day(session: Session, stream: str, start: datetime, end: datetime) -> LandedDay:
    rows = session.execute(
        f"SELECT count(*), max(received_at) FROM {landing_table(stream)} "  # noqa: S608 - quoted
        f"WHERE {DAY_CONDITION}",
        {"start": start, "end": end},
    )
    return LandedDay(int(rows[0][0]), rows[0][1])


def newest_received_at(session: Session, stream: str) -> datetime | None:
    """When the consumer last landed an event of this stream (None: never)."""
    rows = session.execute(f"SELECT max(received_at) FROM {landing_table(stream)}")  # noqa: S608
    return rows[0][0]
