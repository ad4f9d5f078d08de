"""Durable alert state of our own: open alerts and an outbox of notifications.

Not Dagster's storage (its tables are not a public interface) and not a sensor cursor (the
run-failure sensor's cursor belongs to Dagster, and several sensors share this state). A
SQLite file under PLATFORM_HOME by default, or a ``platform`` schema on PostgreSQL
(PLATFORM_ALERT_STATE_URL, defaulting to the warehouse when that is PostgreSQL).

Dedup: an alert key is announced once while open; a higher severity announces again
(escalation); ``clear`` announces the recovery once. Notifications stay pending until their
sink accepted them, so a sink that is down gets them on a later tick.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from platform_assets.alerts.model import SEVERITY_RANK, Alert, Event, Notification, sinks_for
from platform_assets.alerts.routing import report_link
from platform_assets.warehouse.sql import DDL_LOCK, XACT_LOCK

SCHEMA = "platform"
metadata = sa.MetaData(schema=SCHEMA)
alerts_table = sa.Table(
    "alerts",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open | resolved
    sa.Column("asset", sa.String(200)),
    sa.Column("partition", sa.String(100)),
    sa.Column("owner", sa.String(100)),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("link", sa.Text),
    sa.Column("run_id", sa.String(64)),
    sa.Column("details", sa.Text, nullable=False),  # JSON
    sa.Column("opened_at", sa.Float, nullable=False),  # epoch seconds (UTC)
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("resolved_at", sa.Float),
)
notifications_table = sa.Table(
    "alert_notifications",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(400), nullable=False, index=True),
    sa.Column("event", sa.String(16), nullable=False),  # firing | resolved
    sa.Column("sink", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),  # JSON, rendered per sink at delivery
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("delivered_at", sa.Float),
    sa.Column("claimed_until", sa.Float),  # a sender's lease: no two ticks send the same row
)


def sqlalchemy_url(url: str) -> str:
    """``postgresql://`` (the warehouse's form) runs on psycopg 3; SQLite URLs pass through."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if not sep or not scheme.startswith(("sqlite", "postgresql+")):
        raise ValueError("PLATFORM_ALERT_STATE_URL must be sqlite:///... or postgresql://...")
    return url


@cache
def _engine(url: str) -> sa.Engine:
    """One engine (and one CREATE TABLE IF NOT EXISTS) per process and URL."""
    url = sqlalchemy_url(url)
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_pre_ping=True)
        with engine.begin() as conn:  # two steps creating the tables at once collided
            conn.execute(sa.text(XACT_LOCK), {"key": DDL_LOCK})
            conn.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
            metadata.create_all(conn)
        return engine
    path = url.split(":///", 1)[1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        connect_args={"timeout": 30},
        execution_options={"schema_translate_map": {SCHEMA: None}},
    )
    metadata.create_all(engine)  # SQLite: one writer at a time already
    return engine


def payload(row: Any, event: Event, at: float, text: str | None = None) -> dict[str, Any]:
    """What every sink renders from: the alert, as it was when this notification was made."""
    return {
        "alert": row.key,
        "event": event,
        "kind": row.kind,
        "severity": row.severity,
        "title": row.title if event == "firing" else f"Resolved: {row.title}",
        "text": text if text is not None else row.text,
        "asset": row.asset,
        "partition": row.partition,
        "owner": row.owner,
        "route": row.route,
        "link": row.link,
        "report_link": report_link(row.asset),  # the table's page, when PLATFORM_REPORT_URL is set
        "run_id": row.run_id,
        "details": json.loads(row.details),
        "opened_at": row.opened_at,
        "at": at,
    }


class AlertStore:
    def __init__(self, url: str) -> None:
        self._engine = _engine(url)

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            yield conn

    def _row(self, conn: sa.Connection, key: str) -> Any:
        query = sa.select(alerts_table).where(alerts_table.c.key == key)
        return conn.execute(query).one_or_none()

    def _enqueue(
        self,
        conn: sa.Connection,
        row: Any,
        event: Event,
        now: float,
        sinks: Collection[str],
        text: str | None = None,
    ) -> None:
        """One outbox row per configured sink that this severity goes to."""
        body = json.dumps(payload(row, event, now, text), sort_keys=True, default=str)
        rows = [
            {
                "alert_key": row.key,
                "event": event,
                "sink": sink,
                "payload": body,
                "created_at": now,
                "attempts": 0,
            }
            for sink in sinks_for(row.severity)
            if sink in sinks
        ]
        if rows:
            conn.execute(notifications_table.insert(), rows)

    def fire(
        self, alert: Alert, route: str, sinks: Collection[str], now: float | None = None
    ) -> str:
        """Open the alert (or escalate it); returns opened | escalated | unchanged."""
        now = time.time() if now is None else now
        values = {
            "kind": alert.kind,
            "severity": alert.severity,
            "status": "open",
            "asset": alert.asset,
            "partition": alert.partition,
            "owner": alert.owner,
            "route": route,
            "title": alert.title,
            "text": alert.text,
            "link": alert.link,
            "run_id": alert.run_id,
            "details": json.dumps(alert.details, sort_keys=True, default=str),
            "updated_at": now,
            "resolved_at": None,
        }
        with self._begin() as conn:
            row = self._row(conn, alert.key)
            table = alerts_table
            if row is not None and row.status == "open":
                if SEVERITY_RANK[alert.severity] <= SEVERITY_RANK[row.severity]:
                    return "unchanged"
                conn.execute(table.update().where(table.c.key == alert.key).values(**values))
                outcome = "escalated"
            elif row is not None:
                values["opened_at"] = now
                conn.execute(table.update().where(table.c.key == alert.key).values(**values))
                outcome = "opened"
            else:
                conn.execute(table.insert().values(key=alert.key, opened_at=now, **values))
                outcome = "opened"
            self._enqueue(conn, self._row(conn, alert.key), "firing", now, sinks)
            return outcome

    def clear(
        self, key: str, reason: str, sinks: Collection[str], now: float | None = None
    ) -> bool:
        """Resolve an open alert and announce the recovery; False when nothing was open."""
        now = time.time() if now is None else now
        with self._begin() as conn:
            row = self._row(conn, key)
            if row is None or row.status != "open":
                return False
            conn.execute(
                alerts_table.update()
                .where(alerts_table.c.key == key)
                .values(status="resolved", resolved_at=now, updated_at=now)
            )
            self._enqueue(conn, row, "resolved", now, sinks, text=reason)
            return True

    def open_alerts(self, kinds: Iterable[str] | None = None) -> list[Any]:
        query = sa.select(alerts_table).where(alerts_table.c.status == "open")
        if kinds is not None:
            query = query.where(alerts_table.c.kind.in_(list(kinds)))
        with self._begin() as conn:
            return list(conn.execute(query.order_by(alerts_table.c.opened_at)).all())

    def pending(self, limit: int = 200) -> list[Notification]:
        table = notifications_table
        query = (
            sa.select(table).where(table.c.delivered_at.is_(None)).order_by(table.c.id).limit(limit)
        )
        with self._begin() as conn:
            rows = conn.execute(query).all()
        return [
            Notification(
                id=r.id,
                alert_key=r.alert_key,
                event=r.event,
                sink=r.sink,
                payload=json.loads(r.payload),
                attempts=r.attempts,
                last_error=r.last_error,
            )
            for r in rows
        ]

    def claim(self, notification_id: int, lease_s: float = 120.0) -> bool:
        """Take the right to send one notification for ``lease_s`` seconds: sensors deliver
        at the end of their own tick and the dispatch sensor retries, possibly at once."""
        now, table = time.time(), notifications_table
        with self._begin() as conn:
            taken = conn.execute(
                table.update()
                .where(
                    table.c.id == notification_id,
                    table.c.delivered_at.is_(None),
                    sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
                )
                .values(claimed_until=now + lease_s)
            )
            return taken.rowcount == 1

    def delivered(self, notification_id: int, now: float | None = None) -> None:
        table = notifications_table
        with self._begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id == notification_id)
                .values(delivered_at=time.time() if now is None else now, last_error=None)
            )

    def failed(self, notification_id: int, error: str) -> None:
        """Keep it pending, count the attempt; ``error`` must already be free of secrets."""
        table = notifications_table
        with self._begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id == notification_id)
                .values(attempts=table.c.attempts + 1, last_error=error, claimed_until=None)
            )

    def dropped(self, notification_id: int, reason: str) -> None:
        """Never deliverable (its sink was unconfigured): closed with the reason, not retried."""
        table = notifications_table
        with self._begin() as conn:
            conn.execute(
                table.update()
                .where(table.c.id == notification_id)
                .values(delivered_at=time.time(), last_error=reason)
            )
