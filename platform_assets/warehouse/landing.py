"""The landing tables of a pushed event stream: where the consumer writes, what the asset reads.

One pair per stream, in schema ``landing``: ``<stream>`` holds each event once (the event
id is the primary key, so a redelivered message lands as a no-op and at-least-once
delivery gives exactly-once landing), ``<stream>_quarantine`` holds the messages that could
not be landed (undecodable, no id) with the reason. ``body`` is the message as received:
the events asset parses and validates it against its contract, like any other source.
"""

from __future__ import annotations

from platform_assets.warehouse.sessions import Session
from platform_assets.warehouse.sql import DDL_LOCK, qualified, quote

LANDING_SCHEMA = "landing"


def landing_table(stream: str) -> str:
    return qualified(LANDING_SCHEMA, stream)


def landing_quarantine_table(stream: str) -> str:
    return qualified(LANDING_SCHEMA, f"{stream}_quarantine")


def ensure_landing_tables(session: Session, stream: str) -> None:
    """Creates the stream's landing and quarantine tables if they are missing (idempotent),
    under the DDL lock: the consumer and the asset's step may create them at once."""
    session.lock(DDL_LOCK)
    session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(LANDING_SCHEMA)}")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {landing_table(stream)} ("
        " event_id TEXT PRIMARY KEY,"
        " occurred_at TIMESTAMPTZ NULL,"
        " received_at TIMESTAMPTZ NOT NULL,"
        " body TEXT NOT NULL)"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {landing_quarantine_table(stream)} ("
        " received_at TIMESTAMPTZ NOT NULL,"
        " reason TEXT NOT NULL,"
        " body TEXT NULL)"
    )
