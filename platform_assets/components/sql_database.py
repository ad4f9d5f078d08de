"""A SQL database source: one connection and the tables (or queries) read from it.

Rows stream through a server-side cursor in chunks; a partitioned table reads its day by a
window column, an incremental one the rows at or after its high-water mark (merged on the
key, the mark committed with the rows). The URL is named, never written: ``url_env``.
Another folder may read more tables of the same database: ``connection: <that folder>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
import yaml
from pydantic import Field, field_validator, model_validator

from platform_assets.components.common import (
    ConfigError,
    ContractTable,
    Located,
    PlatformComponent,
    env_name,
)
from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.contracts import Contract
from platform_assets.sources.sql import SqlDatabase, SqlTable

if TYPE_CHECKING:
    import pandas as pd


class Connection(dg.Resolvable, dg.Model):
    url_env: str = Field(
        description="The environment variable holding the SQLAlchemy URL (it may carry a "
        "password): read when a run starts, never stored."
    )
    default_url: str | None = Field(
        default=None,
        description="Used when url_env is unset (a local file, no secret), e.g. "
        "'sqlite:///{{ home }}/source.db'.",
    )
    chunk_size: int = Field(default=50_000, description="Rows per streamed chunk.")

    @field_validator("url_env")
    @classmethod
    def _name(cls, value: str) -> str:
        return env_name(value, "url_env") or value


class Incremental(dg.Resolvable, dg.Model):
    column: str = Field(description="The high-water-mark column (e.g. updated_at).")


class Table(ContractTable):
    table: str | None = Field(default=None, description="The source table's name.")
    db_schema: str | None = Field(default=None, description="Its schema, if not the default.")
    query: str | None = Field(
        default=None,
        description="A SELECT instead of a table; a partitioned one binds :start and :end "
        "(the partition's half-open UTC window).",
    )
    key: list[str] | None = Field(
        default=None, description="Columns ordering the rows; default: the primary key."
    )
    window_column: str | None = Field(
        default=None, description="Partitioned tables: the column bounding the day."
    )
    incremental: Incremental | None = Field(
        default=None, description="Read only rows at or after the high-water mark."
    )

    @model_validator(mode="after")
    def _one_source(self) -> Table:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table, query")
        if self.query is not None and (self.incremental or self.window_column):
            raise ValueError("a query binds :start/:end itself; incremental and window_column "
                             "need a table")  # fmt: skip
        return self


class SqlDatabaseSource(PlatformComponent):
    """A SQL database and the tables read from it: one asset per table."""

    connection: Connection | str = Field(
        description="The database (url_env, ...), or the name of another folder of defs/ "
        "whose SqlDatabaseSource connection these tables share."
    )
    tables: list[Table] = Field(min_length=1)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = Located(context)
        key = self.connection if isinstance(self.connection, str) else here.name
        if isinstance(self.connection, str):
            _check_shared(here, self.connection)
        assets = []
        for index, table in enumerate(self.tables):
            contract = here.contract(table.contract, f"tables[{index}].contract")
            source = self._source(here, table, contract, f"tables[{index}]", key)
            assets.append(build_raw_asset(contract, source, here.catalog))
        if isinstance(self.connection, str):
            return dg.Definitions(assets=assets)  # the named folder defines the resource
        return dg.Definitions(assets=assets, resources={here.name: self._resource(self.connection)})

    def _source(
        self, here: Located, table: Table, contract: Contract, field: str, key: str
    ) -> RawSource:
        if contract.is_partitioned and not (table.window_column or table.query):
            raise ConfigError(
                f"{here.where(field)}: {contract.source_file} is partitioned: give "
                "window_column (or a query binding :start and :end)"
            )
        mark = table.incremental.column if table.incremental else None
        if mark is not None and (contract.is_partitioned or mark not in contract.column_names):
            raise ConfigError(
                f"{here.where(field + '.incremental.column')}: must be a column of an "
                f"unpartitioned contract; {contract.source_file} has {contract.column_names}"
            )
        if table.query is not None:
            text = table.query

            def extract(db: SqlDatabase, request: ExtractRequest) -> Iterator[pd.DataFrame]:
                import sqlalchemy as sa  # at run time: the code location loads without it

                params = dict(zip(("start", "end"), request.window, strict=True))
                return db.chunks(sa.text(text), params if request.day else {}, log=request.log)

            return RawSource("sql", key, extract, source_tag=here.name)
        spec = SqlTable(
            name=table.table or "",
            key=tuple(table.key or contract.primary_key),
            schema=table.db_schema,
            updated_column=mark,
            window_column=table.window_column,
        )

        def extract_table(db: SqlDatabase, request: ExtractRequest) -> Iterator[pd.DataFrame]:
            window = request.window if request.day else None
            return db.table_chunks(spec, since=request.since, window=window, log=request.log)

        return RawSource("sql", key, extract_table, mark, source_tag=here.name)

    def _resource(self, c: Connection) -> SqlDatabase:
        url: Any = c.default_url if c.default_url and not _is_set(c.url_env) else dg.EnvVar(
            c.url_env
        )  # fmt: skip
        return SqlDatabase(url=url, chunk_size=c.chunk_size, url_env=c.url_env)


def _is_set(name: str) -> bool:
    return bool(os.environ.get(name))


def _check_shared(here: Located, name: str) -> None:
    """``connection: <folder>`` must name a folder whose SqlDatabaseSource defines one."""
    owners = sorted(
        path.parent.name for path in here.defs_dir.rglob("defs.yaml") if _defines_connection(path)
    )
    if name not in owners:
        raise ConfigError(
            f"{here.where('connection')}: {name!r} is no folder of defs/ with a "
            f"SqlDatabaseSource connection of its own; those are: {owners}"
        )


def _defines_connection(path: Path) -> bool:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError:
        return False  # Dagster reports it when it loads that folder
    return any(
        isinstance(doc, dict)
        and str(doc.get("type", "")).endswith("SqlDatabaseSource")
        and isinstance((doc.get("attributes") or {}).get("connection"), dict)
        for doc in documents
    )
