"""SQL transforms: every ``<table>.sql`` in the folder, with its contract ``<table>.yaml``.

The SELECT is run inside the warehouse for one partition (``:partition`` binds its day) and
replaces it atomically. Its dependencies are read from the SQL itself (sqlglot): every table
in a FROM or JOIN that is not a CTE must be a contracted table, named with its layer's schema
(``"raw"."<table>"``, ``"staging"."<table>"``), and the column lineage the contract
declares must agree with the SELECT (components/sql_lineage.py). No list of dependencies is
kept by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from platform_assets.components.common import (
    ConfigError,
    Located,
    PlatformComponent,
)
from platform_assets.components.metadata import source_system
from platform_assets.components.sql_asset import build_sql_asset
from platform_assets.contracts import Contract

if TYPE_CHECKING:
    from sqlglot import exp


def parse_select(sql: str, where: str) -> exp.Query:
    """The file's one SELECT, identifiers normalized (``Raw.T`` is ``raw.t``)."""
    # sqlglot is imported when the definitions are built, not with the code location
    import sqlglot
    from sqlglot import exp
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError as exc:
        raise ConfigError(f"{where}: not a SQL statement sqlglot can read: {exc}") from None
    if not isinstance(tree, exp.Query):
        got = f"{len(tree.expressions)} statements" if isinstance(tree, exp.Block) else (
            tree.key.upper()
        )  # fmt: skip
        raise ConfigError(
            f"{where}: must hold one SELECT (the table's rows), got {got}; "
            "the platform writes the partition itself"
        )
    return normalize_identifiers(tree, dialect="postgres")


def sql_dependencies(sql: str, catalog: Mapping[str, Contract], where: str) -> tuple[str, ...]:
    """The contracted tables a SELECT reads; an unknown one is an error naming it."""
    return select_dependencies(parse_select(sql, where), catalog, where)


def select_dependencies(
    tree: exp.Query, catalog: Mapping[str, Contract], where: str
) -> tuple[str, ...]:
    from sqlglot import exp

    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    deps = set()
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name in ctes):
            continue  # a table function (generate_series(...)) or a CTE
        name = f"{table.db}.{table.name}" if table.db else table.name
        contract = catalog.get(table.name)
        if contract is None:
            raise ConfigError(
                f"{where}: reads table {name!r}, which no contract defines; known tables: "
                f"{sorted(f'{c.schema}.{c.table}' for c in catalog.values())}"
            )
        if table.db != contract.schema:
            raise ConfigError(
                f"{where}: reads {name!r}; write it with its schema: "
                f'"{contract.schema}"."{contract.table}" ({contract.source_file})'
            )
        deps.add(contract.table)
    if not deps:
        raise ConfigError(f"{where}: reads no contracted table")
    return tuple(sorted(deps))


def source_systems(deps: tuple[str, ...], catalog: Mapping[str, Contract]) -> tuple[str, ...]:
    """The source systems of the raw tables a transform is built from, through every
    transform between (each one's SQL is read beside its contract)."""
    systems: set[str] = set()
    pending, seen = list(deps), set()
    while pending:
        table = pending.pop()
        if table in seen:
            continue
        seen.add(table)
        contract = catalog[table]
        if contract.layer == "raw":
            systems.add(source_system(contract))
            continue
        if contract.path is None:
            raise ConfigError(f"{contract.source_file}: a transform's contract must be a file")
        sql_file = contract.path.with_suffix(".sql")
        pending += sql_dependencies(sql_file.read_text(), catalog, sql_file.name)
    return tuple(sorted(systems))


class SqlTransforms(PlatformComponent):
    """Staging or mart tables built in the warehouse: one asset per ``.sql`` file here."""

    exclude: list[str] = Field(
        default_factory=list, description="SQL files in this folder that are not tables."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = Located(context)
        files = sorted(p for p in here.folder.glob("*.sql") if p.name not in self.exclude)
        if not files:
            raise ConfigError(f"{here.relative(here.file)}: no .sql file in this folder")
        return dg.Definitions(assets=[self._asset(here, path) for path in files])

    def _asset(self, here: Located, path: Path) -> dg.AssetsDefinition:
        where = here.relative(path)
        contract_file = path.with_suffix(".yaml")
        if not contract_file.is_file():
            raise ConfigError(f"{where}: its contract {contract_file.name} is missing beside it")
        contract = here.contract(contract_file.name, "(contract)")
        if contract.table != path.stem:
            raise ConfigError(
                f"{where}: its contract {contract.source_file} defines table "
                f"{contract.table!r}; name the file {contract.table}.sql"
            )
        if contract.layer == "raw":
            raise ConfigError(f"{where}: a transform's layer is staging or marts, not raw")
        from platform_assets.components.sql_lineage import check_lineage  # sqlglot: see above

        tree = parse_select(path.read_text(), where)
        deps = select_dependencies(tree, here.catalog, where)
        check_lineage(contract, deps, tree, here.catalog, where)
        systems = source_systems(deps, here.catalog)
        return build_sql_asset(contract, deps, path, here.catalog, systems)
