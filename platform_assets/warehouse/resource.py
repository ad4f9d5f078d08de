"""The warehouse resource: one interface over the embedded DuckDB and PostgreSQL.

Every write replaces a whole partition (or a whole unpartitioned table) inside one
transaction, together with that partition's quarantine rows, so re-runs, retries and
backfills never duplicate or lose rows and readers never see a half-loaded partition.
Unpartitioned tables loaded incrementally merge on the primary key instead.

Why DELETE + load in one transaction rather than load-into-staging-then-swap: under MVCC
the deleted and the new rows are both invisible to readers until the commit, which is the
swap, atomic and without DDL; a rename or partition attach would take an ACCESS EXCLUSIVE
lock that queues every reader behind the load, and needs per-partition tables. The cost,
dead tuples of the replaced rows, is what autovacuum is for. A per-partition advisory lock
(taken first, released at commit) makes concurrent writers of one partition run one after
the other, so two runs of the same partition end with exactly one copy of its rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Any

import dagster as dg
from pydantic import Field

from platform_assets.contracts import Contract
from platform_assets.contracts.types import sql_type
from platform_assets.warehouse.cursors import ensure_cursors_table
from platform_assets.warehouse.duplicates import LoadedRows, resolve_duplicates
from platform_assets.warehouse.faults import database_faults, url_password
from platform_assets.warehouse.sessions import (
    Session,
    dialect_of,
    duckdb_autocommit,
    load_transaction,
    transaction,
)
from platform_assets.warehouse.sinks import BATCH_BYTES
from platform_assets.warehouse.sql import (
    DDL_LOCK,
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    STAGE_SCHEMA,
    column_list,
    create_table_sql,
    lock_key,
    primary_key_match,
    qualified,
    quarantine_ddl,
    quote,
    table_name,
)
from platform_assets.warehouse.writers import LoadStats, PartitionWriter

__all__ = ["LoadStats", "PartitionWriter", "Warehouse"]

QUARANTINE = qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)


def _partition_filter(contract: Contract, partition_value: date | None) -> tuple[str, dict]:
    if contract.partition_column is None:
        return "", {}
    if partition_value is None:
        raise ValueError(f"{contract.table} is partitioned: a partition value is required")
    return f" WHERE {quote(contract.partition_column)} = :partition", {"partition": partition_value}


def _partition_scope(contract: Contract, partition_value: date | None) -> tuple[str, dict]:
    """The replaced partition as a condition on alias ``s`` (everything when unpartitioned)."""
    if contract.partition_column is None:
        return "TRUE", {}
    return f"s.{quote(contract.partition_column)} = :partition", {"partition": partition_value}


def _clear_partition(
    session: Session,
    contract: Contract,
    partition_value: date | None,
    asset: str,
    partition_key: str,
) -> None:
    """In the replacing transaction: the partition's rows and quarantine rows go."""
    session.lock(lock_key(contract, partition_value))
    where, params = _partition_filter(contract, partition_value)
    session.execute(f"DELETE FROM {table_name(contract)}{where}", params)  # noqa: S608
    session.execute(
        f"DELETE FROM {QUARANTINE} "  # noqa: S608 - quoted identifiers
        "WHERE asset = :asset AND partition_key = :partition_key",
        {"asset": asset, "partition_key": partition_key},
    )


def _resolve(
    writer: PartitionWriter, rows: LoadedRows, asset: str, partition_key: str, run_id: str
) -> None:
    """Duplicate keys across the whole load: collapse exact copies, quarantine conflicts."""
    duplicates = resolve_duplicates(
        writer.session, writer.contract, rows, asset, partition_key, run_id
    )
    writer.stats.resolved(duplicates)


def _resolve_partition(
    writer: PartitionWriter, partition_value: date | None, partition_key: str
) -> None:
    """``_resolve`` over the replaced partition, which by now holds this load's rows only."""
    contract = writer.contract
    if contract.primary_key:
        scope, scope_params = _partition_scope(contract, partition_value)
        loaded = LoadedRows(table_name(contract), scope, scope_params)
        _resolve(writer, loaded, writer.asset, partition_key, writer.run_id)


class Warehouse(dg.ConfigurableResource):
    """Where every table lives. ``url``: ``duckdb:///path`` or ``postgresql://...``."""

    url: str
    copy_batch_bytes: int = Field(
        default=BATCH_BYTES,
        description="PostgreSQL: rows are sent to COPY in batches of about this many bytes.",
    )
    url_env: str = Field(
        default="PLATFORM_WAREHOUSE_URL",
        description="The environment variable holding url: named when the database refuses "
        "us for good (unknown host, database or role, failed authentication), never the URL.",
    )

    @property
    def dialect(self) -> str:
        with self.faults():
            return dialect_of(self.url)

    @contextmanager
    def faults(self) -> Iterator[None]:
        """Permanent connection faults raised as PermanentDatabaseError naming url_env."""
        with database_faults(self.url_env, (self.url, url_password(self.url))):
            yield

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.faults(), transaction(self.url) as session:
            yield session

    def preflight(self) -> None:
        """Connect once before a run starts: a URL that can never work fails here, at once."""
        self.query("SELECT 1")

    def ensure_table(self, contract: Contract) -> None:
        """Create the contract's schema and table, or fail naming how the table differs."""
        with self.session() as session:
            session.lock(DDL_LOCK)
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

    def ensure_cursors_table(self) -> None:
        """The high-water marks' table, created under the DDL lock before any load uses it
        (two first incremental loads at once would both create it otherwise)."""
        with self.session() as session:
            session.lock(DDL_LOCK)
            ensure_cursors_table(session)

    @contextmanager
    def partition_writer(
        self,
        contract: Contract,
        partition_value: date | None,
        asset: str,
        partition_key: str,
        run_id: str,
    ) -> Iterator[PartitionWriter]:
        """Replace one partition (or the whole unpartitioned table) and its quarantine rows.

        The rows stream into the table as chunks arrive; when the block ends, duplicate keys
        of the whole partition are resolved in it (exact copies collapse, conflicting ones go
        to quarantine, see ``duplicates.py``), still inside the transaction. The rows replace
        the old partition at the commit, and vanish with the rollback if the block raises.
        On DuckDB they stream into stage tables first (``_staged_partition_writer``).
        """
        self.ensure_table(contract)
        if self.dialect == "duckdb":
            with self._staged_partition_writer(
                contract, partition_value, asset, partition_key, run_id
            ) as writer:
                yield writer
            return
        with self.faults(), load_transaction(self.url, self.copy_batch_bytes) as session:
            _clear_partition(session, contract, partition_value, asset, partition_key)
            from platform_assets.warehouse.arrow import arrow_schema  # pyarrow: at load time

            rows = session.table_sink(contract.schema, contract.table, arrow_schema(contract))

            writer = PartitionWriter(
                session, contract, asset, partition_key, run_id, rows, session.quarantine_sink()
            )
            yield writer
            writer.finish()
            _resolve_partition(writer, partition_value, partition_key)

    @contextmanager
    def _staged_partition_writer(
        self,
        contract: Contract,
        partition_value: date | None,
        asset: str,
        partition_key: str,
        run_id: str,
    ) -> Iterator[PartitionWriter]:
        """DuckDB: the rows and quarantine rows are staged in tables of their own, committed
        batch by batch (see ``duckdb_autocommit``: memory stays bounded), then replace the
        partition in one transaction. A failed or killed load leaves the partition as it
        was; its stage tables are replaced by the next load of the table."""
        from platform_assets.warehouse.arrow import QUARANTINE_ARROW_SCHEMA, arrow_schema

        name = f"{contract.schema}__{contract.table}"
        stages = [  # (target, stage table, its Arrow schema)
            (table_name(contract), name, arrow_schema(contract)),
            (QUARANTINE, f"{name}__quarantine", QUARANTINE_ARROW_SCHEMA),
        ]
        with self.faults(), duckdb_autocommit(self.url, self.copy_batch_bytes) as staging:
            staging.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(STAGE_SCHEMA)}")
            sinks = []
            for target, stage, columns in stages:
                staging.execute(
                    f"CREATE OR REPLACE TABLE {qualified(STAGE_SCHEMA, stage)} "  # noqa: S608
                    f"AS SELECT * FROM {target} LIMIT 0"  # quoted identifiers
                )
                sinks.append(staging.table_sink(STAGE_SCHEMA, stage, columns))
            writer = PartitionWriter(staging, contract, asset, partition_key, run_id, *sinks)
            yield writer
            writer.finish()
        with self.faults(), load_transaction(self.url, self.copy_batch_bytes) as session:
            _clear_partition(session, contract, partition_value, asset, partition_key)
            for target, stage, columns in stages:
                names = column_list(columns.names)
                session.execute(
                    f"INSERT INTO {target} ({names}) "  # noqa: S608 - quoted identifiers
                    f"SELECT {names} FROM {qualified(STAGE_SCHEMA, stage)}"
                )
                session.execute(f"DROP TABLE {qualified(STAGE_SCHEMA, stage)}")
            writer.session = session  # duplicate keys are resolved in the replacing transaction
            _resolve_partition(writer, partition_value, partition_key)

    @contextmanager
    def merge_writer(
        self, contract: Contract, asset: str, run_id: str
    ) -> Iterator[PartitionWriter]:
        """Upsert chunks into an unpartitioned table on its primary key, atomically.

        Chunks stream into a temporary staging table; when the block ends, duplicate keys
        are resolved there (``duplicates.py``), then the target's rows
        whose keys were staged are deleted and the staged rows inserted, in the transaction
        that staged them, so a retry or a concurrent merge never duplicates a key. Rows with
        keys that were not staged stay. Quarantine rows are kept per run (a retry of the same
        run replaces its own), since each incremental run sees different source rows.
        """
        if contract.is_partitioned:
            raise ValueError(
                f"{contract.table} is partitioned by {contract.partition_column}: "
                "replace its partitions with partition_writer"
            )
        if not contract.primary_key:
            raise ValueError(f"{contract.table}: merging needs a primary key in the contract")
        self.ensure_table(contract)
        self.ensure_cursors_table()
        target = table_name(contract)
        with self.faults(), load_transaction(self.url, self.copy_batch_bytes) as session:
            session.lock(lock_key(contract, None))
            session.execute(
                f"DELETE FROM {QUARANTINE} "  # noqa: S608 - quoted identifiers
                "WHERE asset = :asset AND partition_key = '' AND run_id = :run_id",
                {"asset": asset, "run_id": run_id},
            )
            stage, rows = session.stage(contract)
            quarantine = session.quarantine_sink()
            writer = PartitionWriter(session, contract, asset, "", run_id, rows, quarantine)
            yield writer
            writer.finish()
            _resolve(writer, LoadedRows(stage), asset, "", run_id)
            session.execute(
                f"DELETE FROM {target} AS t WHERE EXISTS "  # noqa: S608 - quoted identifiers
                f"(SELECT 1 FROM {stage} AS s WHERE {primary_key_match(contract, 't', 's')})"
            )
            columns = column_list(contract.column_names)
            session.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage}")  # noqa: S608
            session.execute(f"DROP TABLE {stage}")

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
            session.lock(lock_key(contract, partition_value))
            session.execute(f"DELETE FROM {target}{where}", filter_params)  # noqa: S608
            session.execute(
                f"INSERT INTO {target} ({column_list(contract.column_names)}) {select_sql}",
                all_params,
            )
            return session.execute(f"SELECT count(*) FROM {target}{where}", filter_params)[0][0]  # noqa: S608

    def count(self, contract: Contract, partition_value: date | None = None) -> int:
        """Rows in one partition, or in the whole table without a partition value."""
        where, params = (
            ("", {}) if partition_value is None else _partition_filter(contract, partition_value)
        )
        with self.session() as session:
            return session.execute(f"SELECT count(*) FROM {table_name(contract)}{where}", params)[  # noqa: S608
                0
            ][0]

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple]:
        with self.session() as session:
            return session.execute(sql, params)

    def add_columns(self, contract: Contract, columns: list[str]) -> None:
        """Schema evolution (drift_policy: evolve): append contract columns the table lacks.

        Types come from the contract. Added as nullable whatever the contract says, since the
        rows already in the table have no value for them; the schema_drift check reports it.
        """
        with self.session() as session:
            session.lock(f"{contract.schema}.{contract.table}/ddl")
            for name in columns:
                session.execute(
                    f"ALTER TABLE {table_name(contract)} ADD COLUMN IF NOT EXISTS "
                    f"{quote(name)} {sql_type(contract.column(name), session.dialect)}"
                )
