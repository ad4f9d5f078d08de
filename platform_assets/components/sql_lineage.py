"""A transform's contract lineage, checked against its SELECT (read with sqlglot).

The contract declares each column's upstream columns (``lineage:``), and that declaration is
what the UI, the docs and the report show. The SQL keeps it honest: every upstream column
the SELECT computes a column from must be declared (nothing is left out of the chain), and
every declared column must be one the SELECT reads somewhere (in a select list, a join, a
filter or a grouping), so a declaration cannot name a column the SQL never touches. Beyond
that the declaration may say more than a parser sees: ``date`` is the partition, which the
SQL binds as ``CAST(:partition AS DATE)`` and filters on ``<table>.<date column>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope, traverse_scope

from platform_assets.components.common import ConfigError
from platform_assets.contracts import Contract

DIALECT = "postgres"


@dataclass(frozen=True)
class SelectColumns:
    """What a SELECT does with the catalog's columns ("table.column")."""

    computed_from: Mapping[str, frozenset[str]]  # output column -> columns its value comes from
    reads: frozenset[str]  # every column it reads anywhere


def schema_of(catalog: Mapping[str, Contract]) -> dict[str, dict[str, dict[str, str]]]:
    """The catalog as sqlglot's schema: names only matter for lineage, not types."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for contract in catalog.values():
        columns = {c.name: "TEXT" for c in contract.columns}
        schema.setdefault(contract.schema, {})[contract.table] = columns
    return schema


def _ref(node_name: str, table: exp.Table) -> str:
    return f"{table.name}.{exp.to_column(node_name, dialect=DIALECT).name}"


def select_columns(tree: exp.Query, catalog: Mapping[str, Contract], where: str) -> SelectColumns:
    """``tree``: the SELECT as parsed (identifiers normalized) by sql_dependencies."""
    schema = schema_of(catalog)
    try:
        qualified = qualify(tree.copy(), schema=schema, dialect=DIALECT)
        scope = build_scope(qualified)
        computed = {}
        for select in qualified.selects:
            node = lineage(select.alias_or_name, qualified, schema, dialect=DIALECT, scope=scope)
            computed[select.alias_or_name] = frozenset(
                _ref(n.name, n.expression)
                for n in node.walk()
                if not n.downstream and isinstance(n.expression, exp.Table)
            )
    except SqlglotError as exc:
        raise ConfigError(f"{where}: sqlglot cannot trace its columns: {exc}") from None
    reads = {
        f"{source.name}.{column.name}"
        for inner in traverse_scope(qualified)
        for column in inner.columns
        if isinstance(source := inner.sources.get(column.table), exp.Table)
    }
    return SelectColumns(computed, frozenset(reads))


def check_lineage(
    contract: Contract,
    deps: tuple[str, ...],
    tree: exp.Query,
    catalog: Mapping[str, Contract],
    where: str,
) -> None:
    """Every declared upstream column is read by the SQL; every column the SQL computes a
    value from is declared. Errors name the file, the column and what to write."""
    for column in contract.columns:
        for ref in column.lineage:
            if ref.split(".")[0] not in deps:
                raise ConfigError(
                    f"{where}: {contract.source_file} declares lineage {column.name} <- {ref}, "
                    f"but the SQL reads only {list(deps)}: read that table or drop the lineage"
                )
    found = select_columns(tree, catalog, where)
    for column in contract.columns:
        unread = [ref for ref in column.lineage if ref not in found.reads]
        if unread:
            raise ConfigError(
                f"{where}: {contract.source_file} declares lineage {column.name} <- "
                f"{', '.join(unread)}, but the SQL never reads that column: fix the lineage"
            )
        missing = sorted(found.computed_from.get(column.name, frozenset()) - set(column.lineage))
        if missing:
            raise ConfigError(
                f"{where}: the SQL computes {column.name} from {', '.join(missing)}, which "
                f"{contract.source_file} does not declare: add them to its lineage "
                f"(lineage: [{', '.join(sorted({*column.lineage, *missing}))}])"
            )
