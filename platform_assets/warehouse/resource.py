"""The warehouse resource: one interface over the embedded DuckDB and PostgreSQL.

Every write replaces a whole partition (or a whole unpartitioned table) inside one
transaction, together with that partition's quarantine rows, so re-runs, retries and
backfills never duplicate or lose rows and readers never see a half-loaded partition.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg
import pandas as pd

from platform_assets.contracts import Contract
from platform_assets.quality.validation import ValidatedChunk, reasons_json, record_json
from platform_assets.warehouse.sessions import Session, dialect_of, transaction
from platform_assets.warehouse.sql import (
    QUARANTINE_COLUMNS,
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    create_table_sql,
    qualified,
    quarantine_ddl,
    quote,
    table_name,
)


@dataclass
class LoadStats:
    loaded: int = 0
    quarantined: int = 0
    chunks: int = 0

    @property
    def extracted(self) -> int:
        return self.loaded + self.quarantined


class PartitionWriter:
    """Appends validated chunks inside the replacing transaction."""

    def __init__(self, session: Session, contract: Contract, asset: str, partition_key: str,
                 run_id: str) -> None:  # fmt: skip
        self._session = session
        self._contract = contract
        self._asset = asset
        self._partition_key = partition_key
        self._run_id = run_id
        self.stats = LoadStats()

    def append(self, chunk: ValidatedChunk) -> None:
        contract = self._contract
        if len(chunk.valid):
            self._session.insert_frame(
                contract.schema,
                contract.table,
                chunk.valid[contract.column_names],
                [c.type for c in contract.columns],
            )
        if chunk.quarantined:
            self._session.insert_frame(
                QUARANTINE_SCHEMA, QUARANTINE_TABLE, self._quarantine_frame(chunk), QUARANTINE_TYPES
            )
        self.stats.loaded += len(chunk.valid)
        self.stats.quarantined += len(chunk.quarantined)
        self.stats.chunks += 1

    def _quarantine_frame(self, chunk: ValidatedChunk) -> pd.DataFrame:
        now = datetime.now(UTC)
        return pd.DataFrame(
            {
                "asset": self._asset,
                "partition_key": self._partition_key,
                "run_id": self._run_id,
                "quarantined_at": pd.Timestamp(now),
                "record": [record_json(q["record"]) for q in chunk.quarantined],
                "reasons": [reasons_json(q["reasons"]) for q in chunk.quarantined],
            },
            columns=list(QUARANTINE_COLUMNS),
        )


QUARANTINE_TYPES = ["string", "string", "string", "timestamp", "string", "string"]


def _partition_filter(contract: Contract, partition_value: date | None) -> tuple[str, dict]:
    if contract.partition_column is None:
        return "", {}
    if partition_value is None:
        raise ValueError(f"{contract.table} is partitioned: a partition value is required")
    return f" WHERE {quote(contract.partition_column)} = :partition", {"partition": partition_value}


class Warehouse(dg.ConfigurableResource):
    """Where every table lives. ``url``: ``duckdb:///path`` or ``postgresql://...``."""

    url: str

    @property
    def dialect(self) -> str:
        return dialect_of(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with transaction(self.url) as session:
            yield session

    def ensure_table(self, contract: Contract) -> None:
        """Create the contract's schema and table, or fail naming how the table differs."""
        with self.session() as session:
            for schema in (contract.schema, QUARANTINE_SCHEMA):
                session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
            session.execute(quarantine_ddl(session.dialect))
            session.execute(create_table_sql(contract, session.dialect))
            existing = [
                row[0]
                for row in session.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = :schema AND table_name = :table "
                    "ORDER BY ordinal_position",
                    {"schema": contract.schema, "table": contract.table},
                )
            ]
        if existing != contract.column_names:
            raise RuntimeError(
                f"warehouse table {contract.schema}.{contract.table} has columns {existing}, "
                f"but contract {contract.source_file} declares {contract.column_names}; "
                "migrate or drop the table"
            )

    @contextmanager
    def partition_writer(
        self,
        contract: Contract,
        partition_value: date | None,
        asset: str,
        partition_key: str,
        run_id: str,
    ) -> Iterator[PartitionWriter]:
        """Replace one partition (or the whole unpartitioned table) and its quarantine rows."""
        self.ensure_table(contract)
        where, params = _partition_filter(contract, partition_value)
        with self.session() as session:
            session.lock(f"{contract.schema}.{contract.table}/{partition_key}")
            session.execute(f"DELETE FROM {table_name(contract)}{where}", params)  # noqa: S608
            session.execute(
                f"DELETE FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} "  # noqa: S608
                "WHERE asset = :asset AND partition_key = :partition_key",
                {"asset": asset, "partition_key": partition_key},
            )
            yield PartitionWriter(session, contract, asset, partition_key, run_id)

    def replace_from_select(
        self,
        contract: Contract,
        partition_value: date | None,
        select_sql: str,
        params: Mapping[str, Any] | None = None,
    ) -> int:
        """Rebuild a partition from a SELECT over other warehouse tables; returns its rows."""
        self.ensure_table(contract)
        where, filter_params = _partition_filter(contract, partition_value)
        all_params = {**(params or {}), **filter_params}
        target = table_name(contract)
        with self.session() as session:
            session.lock(f"{contract.schema}.{contract.table}/{partition_value}")
            session.execute(f"DELETE FROM {target}{where}", filter_params)  # noqa: S608
            session.execute(
                f"INSERT INTO {target} ({column_list(contract.column_names)}) {select_sql}",
                all_params,
            )
            return session.execute(f"SELECT count(*) FROM {target}{where}", filter_params)[0][0]  # noqa: S608

    def count(self, contract: Contract, partition_value: date | None = None) -> int:
        """Rows in one partition, or in the whole table without a partition value."""
        where, params = ("", {}) if partition_value is None else _partition_filter(
            contract, partition_value
        )
        with self.session() as session:
            return session.execute(f"SELECT count(*) FROM {table_name(contract)}{where}", params)[  # noqa: S608
                0
            ][0]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        with self.session() as session:
            return session.execute(sql, params)
