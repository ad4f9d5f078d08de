"""SQL database extraction with server-side streaming, in chunks of bounded size."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from pydantic import Field


class SqlDatabase(dg.ConfigurableResource):
    """A source database reachable with a SQLAlchemy URL (SQLite, PostgreSQL, ...)."""

    url: str = Field(description="SQLAlchemy URL; pass it as dg.EnvVar when it has a password.")

    def chunks(
        self, query: sa.Select | sa.TextClause, params: Mapping[str, Any] | None = None,
        chunk_size: int = 50_000,
    ) -> Iterator[pd.DataFrame]:  # fmt: skip
        """Stream the result with a server-side cursor; values stay as the driver returns them."""
        engine = sa.create_engine(_sqlalchemy_url(self.url))
        try:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True, yield_per=chunk_size).execute(
                    query, dict(params or {})
                )
                columns = list(result.keys())
                for partition in result.partitions(chunk_size):
                    yield pd.DataFrame.from_records(partition, columns=columns).astype(object)
        finally:
            engine.dispose()


def _sqlalchemy_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (psycopg2 is only for dagster-postgres)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url
