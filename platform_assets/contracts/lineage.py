"""Column lineage across layers: a column's upstream columns, hop by hop down to raw.

Each staging and mart contract declares, per column, the ``table.column``s it is computed
from (``lineage:``); the SQL transforms component checks every declaration against the
table's SELECT (components/sql_transforms.py), so the contract stays the one source of truth
and cannot drift from the SQL. Following those declarations from a mart column through
staging reaches the raw columns, whose values come from a source system as loaded.

Everything here is plain data: the asset's column descriptions, ``dagster/column_lineage``,
the contract docs and the quality report all render the same chains.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from platform_assets.contracts.model import Contract


@dataclass(frozen=True)
class Upstream:
    """One upstream column and, recursively, the columns it is computed from."""

    ref: str  # "table.column"
    upstream: tuple[Upstream, ...] = ()

    def text(self) -> str:
        """``<table>.<column> <- <raw table>.<column>``; several sources in parentheses."""
        if not self.upstream:
            return self.ref
        below = [u.text() for u in self.upstream]
        joined = below[0] if len(below) == 1 else f"({', '.join(below)})"
        return f"{self.ref} <- {joined}"

    def raw(self) -> tuple[str, ...]:
        """The columns at the bottom of this chain (no declared lineage of their own)."""
        if not self.upstream:
            return (self.ref,)
        return tuple(dict.fromkeys(ref for u in self.upstream for ref in u.raw()))


def upstream_of(catalog: Mapping[str, Contract], ref: str) -> Upstream:
    """The chain below ``ref`` ("table.column"); the loader rejects unknown refs and cycles."""
    table, column = ref.split(".")
    declared = catalog[table].column(column).lineage
    return Upstream(ref, tuple(upstream_of(catalog, r) for r in declared))


def column_chains(catalog: Mapping[str, Contract], table: str) -> dict[str, tuple[Upstream, ...]]:
    """Per column of ``table``: its direct upstream columns, each with its own chain."""
    return {
        c.name: tuple(upstream_of(catalog, ref) for ref in c.lineage)
        for c in catalog[table].columns
    }


def chain_text(chains: tuple[Upstream, ...]) -> str:
    """``<t>.<a> <- <raw>.<x>; <t>.<b> <- <raw>.<y>``: one chain per upstream column."""
    return "; ".join(u.text() for u in chains)


def raw_columns(chains: tuple[Upstream, ...]) -> tuple[str, ...]:
    """The raw columns at the bottom of every chain, in declaration order, once each."""
    return tuple(dict.fromkeys(ref for u in chains for ref in u.raw()))


def described(description: str, chains: tuple[Upstream, ...]) -> str:
    """A column's description naming its upstream columns, as the UI's Columns table shows."""
    if not chains:
        return description
    return f"{description} From {chain_text(chains)}."
