"""SQL transforms: every ``<table>.sql`` in the folder, with its contract ``<table>.yaml``.

The SELECT is run inside the warehouse for one partition (``:partition`` binds its day) and
replaces it atomically. Its dependencies are read from the SQL itself (sqlglot): every table
in a FROM or JOIN that is not a CTE must be a contracted table, named with its layer's schema
(``"raw"."tickets"``, ``"staging"."stg_tickets"``), and every column lineage the contract
declares must point at one of them. No list of dependencies is kept by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from pydantic import Field

from platform_assets.components.common import (
    ConfigError,
    Located,
    PlatformComponent,
)
from platform_assets.components.sql_asset import build_sql_asset
from platform_assets.contracts import Contract


def sql_dependencies(sql: str, catalog: Mapping[str, Contract], where: str) -> tuple[str, ...]:
    """The contracted tables a SELECT reads; an unknown one is an error naming it."""
    # sqlglot is imported when the definitions are built, not when the module is imported
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
    tree = normalize_identifiers(tree, dialect="postgres")  # Raw.Tickets is raw.tickets
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


def check_lineage(contract: Contract, deps: tuple[str, ...], where: str) -> None:
    for column in contract.columns:
        for ref in column.lineage:
            if ref.split(".")[0] not in deps:
                raise ConfigError(
                    f"{where}: {contract.source_file} declares lineage {column.name} <- {ref}, "
                    f"but the SQL reads only {list(deps)}: read that table or drop the lineage"
                )


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
        select_sql = path.read_text()
        deps = sql_dependencies(select_sql, here.catalog, where)
        check_lineage(contract, deps, where)
        return build_sql_asset(contract, deps, select_sql, here.catalog)
