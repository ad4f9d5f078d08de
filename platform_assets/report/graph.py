"""Which tables feed which, and what each check judges: read from the code location.

The asset graph is the truth the UI draws; the report asks it rather than re-reading SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg


@dataclass(frozen=True)
class TableGraph:
    upstream: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (table, check) -> text

    def downstream(self, table: str) -> tuple[str, ...]:
        return tuple(sorted(t for t, ups in self.upstream.items() if table in ups))

    def rule(self, table: str, check: str) -> str:
        return self.rules.get((table, check), "")


def table_graph(assets_defs: Iterable[dg.AssetsDefinition], tables: Iterable[str]) -> TableGraph:
    """Dependencies among ``tables`` only (the report asset itself depends on every table)."""
    known = set(tables)
    upstream: dict[str, tuple[str, ...]] = {}
    rules: dict[tuple[str, str], str] = {}
    for assets_def in assets_defs:
        for spec in assets_def.specs:
            name = spec.key.to_user_string()
            if name in known:
                deps = {d.asset_key.to_user_string() for d in spec.deps}
                upstream[name] = tuple(sorted(deps & known))
        for check in assets_def.check_specs:
            rules[(check.asset_key.to_user_string(), check.name)] = check.description or ""
    return TableGraph(upstream, rules)
