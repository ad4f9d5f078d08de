"""SQL database extraction with server-side streaming, in chunks of bounded size.

``SqlTable`` configures a source table (its key, and the column that bounds a partition
window or carries the high-water mark); ``SqlDatabase.table_chunks`` builds the SELECT with
SQLAlchemy Core, so identifiers are quoted by the dialect and the window and the mark are
always bound parameters. Results stream through a server-side cursor (``stream_results`` +
``yield_per``): memory holds one chunk, whatever the size of the table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from platform_assets.sources.progress import DEFAULT_EVERY_S, Log, Progress, default_log
from platform_assets.warehouse.faults import database_faults, url_password

if TYPE_CHECKING:
    import pandas as pd
    import sqlalchemy as sa


@dataclass(frozen=True)
class SqlTable:
    """A source table. ``key`` sorts the rows (deterministic chunks); ``updated_column`` is
    the high-water-mark column of incremental reads; ``window_column`` bounds partitions."""

    name: str
    key: tuple[str, ...]
    schema: str | None = None
    updated_column: str | None = None
    window_column: str | None = None


class SqlDatabase(dg.ConfigurableResource):
    """A source database reachable with a SQLAlchemy URL (SQLite, PostgreSQL, ...)."""

    url: str = Field(description="SQLAlchemy URL; pass it as dg.EnvVar when it has a password.")
    chunk_size: int = 50_000
    progress_every_s: float = DEFAULT_EVERY_S
    url_env: str | None = Field(
        default=None,
        description="The environment variable holding url: named when the database refuses "
        "us for good (unknown scheme, host, database or role, failed authentication).",
    )

    @contextmanager
    def faults(self) -> Iterator[None]:
        """Permanent connection faults raised as PermanentDatabaseError naming url_env."""
        where = self.url_env or "the SqlDatabase resource's url"
        with database_faults(where, (self.url, url_password(self.url))):
            yield

    def preflight(self) -> None:
        """Connect once before a run starts: a URL that can never work fails here, at once."""
        import sqlalchemy as sa  # SQLAlchemy loads when a source is read, not with the defs

        with self.faults():
            engine = sa.create_engine(_sqlalchemy_url(self.url))
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
            finally:
                engine.dispose()

    def chunks(
        self, query: sa.Select | sa.TextClause, params: Mapping[str, Any] | None = None,
        chunk_size: int | None = None, log: Log | None = None,
    ) -> Iterator[pd.DataFrame]:  # fmt: skip
        """Stream the result with a server-side cursor; values stay as the driver returns them."""
        import sqlalchemy as sa

        size = chunk_size or self.chunk_size
        progress = Progress(
            _name(query), log or default_log(), self.progress_every_s, unit="chunks"
        )
        with self.faults():
            engine = sa.create_engine(_sqlalchemy_url(self.url))
            try:
                with engine.connect() as conn:
                    yield from _stream(conn, query, dict(params or {}), size, progress)
            finally:
                engine.dispose()
        progress.done()

    def table_chunks(
        self,
        table: SqlTable,
        since: datetime | None = None,
        window: tuple[date | datetime, date | datetime] | None = None,
        chunk_size: int | None = None,
        log: Log | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Rows of ``table`` with ``updated_column >= since`` and/or ``start <= window_column <
        end``. ``>=`` on the mark re-reads the rows at the mark itself: a row committed later
        with the same timestamp is not skipped, and the merge on the key absorbs the repeat."""
        import sqlalchemy as sa

        size = chunk_size or self.chunk_size
        progress = Progress(
            f"SELECT {table.name}", log or default_log(), self.progress_every_s, unit="chunks"
        )
        with self.faults():
            engine = sa.create_engine(_sqlalchemy_url(self.url))
            try:
                with engine.connect() as conn:
                    source = sa.Table(
                        table.name, sa.MetaData(), schema=table.schema, autoload_with=conn
                    )
                    query = _select(source, table, since, window)
                    yield from _stream(conn, query, {}, size, progress)
            finally:
                engine.dispose()
        progress.done()


def _select(
    source: sa.Table,
    table: SqlTable,
    since: datetime | None,
    window: tuple[date | datetime, date | datetime] | None,
) -> sa.Select:
    import sqlalchemy as sa

    query = sa.select(source)
    order = [source.c[k] for k in table.key]
    if since is not None:
        if table.updated_column is None:
            raise ValueError(f"{table.name}: a high-water mark needs SqlTable.updated_column")
        column = source.c[table.updated_column]
        query = query.where(column >= sa.bindparam("since", _bindable(since, column.type)))
        order.insert(0, column)
    if window is not None:
        if table.window_column is None:
            raise ValueError(f"{table.name}: a partition window needs SqlTable.window_column")
        column = source.c[table.window_column]
        start, end = (_bindable(v, column.type) for v in window)
        query = query.where(
            column >= sa.bindparam("window_start", start), column < sa.bindparam("window_end", end)
        )
    return query.order_by(*order)


def _bindable(value: date | datetime, column_type: sa.types.TypeEngine) -> date | datetime:
    """Match the column: naive UTC for ``timestamp without time zone`` (how the sources store
    UTC), aware for ``timestamptz``; a naive input is taken to be UTC."""
    if not isinstance(value, datetime):
        return value
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if getattr(column_type, "timezone", False):
        return aware.astimezone(UTC)
    return aware.astimezone(UTC).replace(tzinfo=None)


def _stream(
    conn: sa.Connection, query: sa.Executable, params: dict[str, Any], size: int,
    progress: Progress,
) -> Iterator[pd.DataFrame]:  # fmt: skip
    import pandas as pd

    result = conn.execution_options(stream_results=True, yield_per=size).execute(query, params)
    columns = list(result.keys())
    for partition in result.partitions(size):
        progress.page(len(partition))
        yield pd.DataFrame(list(partition), columns=columns, dtype=object)  # no float64 pass


def _name(query: sa.Select | sa.TextClause) -> str:
    return " ".join(str(query).split())[:80]


def _sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (psycopg2 is only for dagster-postgres)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
