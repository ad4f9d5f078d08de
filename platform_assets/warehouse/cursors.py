"""High-water marks of incremental extractions, stored in the warehouse (``platform.cursors``).

The mark is read and written inside the transaction that loads the rows: it becomes visible
exactly when the load commits. A crash before the commit leaves the old mark, so the next run
re-reads (and merges) the same rows instead of skipping them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from platform_assets.warehouse.sessions import Session
from platform_assets.warehouse.sql import qualified, quote

if TYPE_CHECKING:
    import pandas as pd

CURSORS_SCHEMA = "platform"
CURSORS_TABLE = "cursors"
_TABLE = qualified(CURSORS_SCHEMA, CURSORS_TABLE)


def ensure_cursors_table(session: Session) -> None:
    ts = "TIMESTAMPTZ" if session.dialect == "duckdb" else "timestamptz"
    session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(CURSORS_SCHEMA)}")
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {_TABLE} (asset VARCHAR PRIMARY KEY, "
        f"value VARCHAR NOT NULL, run_id VARCHAR NOT NULL, updated_at {ts} NOT NULL)"
    )


def get_cursor(session: Session, asset: str) -> str | None:
    """The asset's committed mark, or None before its first load."""
    ensure_cursors_table(session)
    rows = session.execute(f"SELECT value FROM {_TABLE} WHERE asset = :asset", {"asset": asset})  # noqa: S608
    return rows[0][0] if rows else None


def set_cursor(session: Session, asset: str, value: str, run_id: str) -> None:
    """Upsert the mark; call it inside the loading transaction, after the last chunk."""
    ensure_cursors_table(session)
    session.execute(
        f"INSERT INTO {_TABLE} (asset, value, run_id, updated_at) "  # noqa: S608
        "VALUES (:asset, :value, :run_id, :updated_at) "
        "ON CONFLICT (asset) DO UPDATE SET value = excluded.value, run_id = excluded.run_id, "
        "updated_at = excluded.updated_at",
        {"asset": asset, "value": value, "run_id": run_id, "updated_at": datetime.now(UTC)},
    )


def timestamp_mark(value: datetime) -> str:
    """A timestamp mark as text: ISO 8601 in UTC, microseconds, so text order is time order."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def parse_timestamp_mark(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class HighWaterMark:
    """The newest ``column`` value among the rows loaded so far, on top of the stored mark.

    Valid rows move it (a quarantined row's timestamp may be the broken value); a quarantined
    row that is fixed at the source gets a new ``updated_at`` and is read again.
    """

    def __init__(self, session: Session, asset: str, column: str) -> None:
        self._session = session
        self.asset = asset
        self.column = column
        self.start = parse_timestamp_mark(get_cursor(session, asset))
        self.latest = self.start

    def observe(self, valid: pd.DataFrame) -> None:
        import pandas as pd

        if not len(valid):
            return
        newest = valid[self.column].max()
        if pd.isna(newest):
            return
        value = pd.Timestamp(newest).to_pydatetime()
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        if self.latest is None or value > self.latest:
            self.latest = value

    def commit(self, run_id: str) -> None:
        """Store the new mark in the loading transaction: it commits with the rows or not."""
        if self.latest is not None and self.latest != self.start:
            set_cursor(self._session, self.asset, timestamp_mark(self.latest), run_id)

    def metadata(self) -> dict[str, str]:
        return {
            "high_water_mark_column": self.column,
            "high_water_mark_before": "" if self.start is None else timestamp_mark(self.start),
            "high_water_mark": "" if self.latest is None else timestamp_mark(self.latest),
        }
