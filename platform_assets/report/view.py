"""What a reader sees first, derived from the facts: status, latest partition, the grid.

Kept apart from the templates so that ordering ("problems first") and every figure on the
overview are plain functions with tests, not template logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from platform_assets.contracts import Column
from platform_assets.contracts.model import DRIFT_CHECK, LAYERS
from platform_assets.quality.anomaly import accepted_range
from platform_assets.report.facts import NO_PARTITION, CheckFact, TableFacts

STATUS_RANK = {"failed": 0, "warned": 1, "never": 2, "ok": 3}


def latest_partition(table: TableFacts) -> str | None:
    keys = sorted(k for k in table.materialized if k != NO_PARTITION)
    if keys:
        return keys[-1]
    return NO_PARTITION if NO_PARTITION in table.materialized else None


def latest_checks(table: TableFacts) -> list[CheckFact]:
    """The results of the latest partition: what the overview counts."""
    partition = latest_partition(table)
    return [c for c in table.checks if c.partition == partition]


def outcome_counts(checks: Sequence[CheckFact]) -> dict[str, int]:
    counts = {"passed": 0, "warned": 0, "failed": 0}
    for check in checks:
        counts[check.outcome] += 1
    return counts


def quarantine_rate(table: TableFacts, partition: str | None) -> float | None:
    """Quarantined / (loaded + quarantined) rows of one partition; None for transforms."""
    if partition is None or table.contract.layer != "raw":
        return None
    bad = table.quarantine.rows.get(partition, 0)
    total = bad + table.rows.get(partition, 0)
    return bad / total if total else 0.0


def failed_partitions(table: TableFacts) -> list[str]:
    """Partitions with a failed (ERROR) result among those shown: the history behind a green
    latest partition."""
    return sorted({c.partition for c in table.checks if c.outcome == "failed"}, reverse=True)


def status(table: TableFacts) -> str:
    if latest_partition(table) is None:
        return "never"
    counts = outcome_counts(latest_checks(table))
    if counts["failed"] or table.freshness == "fail":
        return "failed"
    if counts["warned"] or table.freshness == "warn" or table.alerts:
        return "warned"
    return "ok"


def problems_first(tables: Sequence[TableFacts]) -> list[TableFacts]:
    """Failing first; among equals, more failed partitions first, then in layer order."""
    return sorted(
        tables,
        key=lambda t: (
            STATUS_RANK[status(t)],
            -len(failed_partitions(t)),
            LAYERS.index(t.contract.layer),
            t.table,
        ),
    )


@dataclass(frozen=True)
class Grid:
    """Check results as rows (checks) by columns (partitions, oldest to newest)."""

    partitions: list[str]
    checks: list[str]
    cells: dict[tuple[str, str], CheckFact]

    def cell(self, check: str, partition: str) -> CheckFact | None:
        return self.cells.get((check, partition))


def grid(table: TableFacts, days: int) -> Grid:
    dated = sorted({c.partition for c in table.checks} - {NO_PARTITION})[-days:]
    partitions = dated + (
        [NO_PARTITION] if any(c.partition == NO_PARTITION for c in table.checks) else []
    )
    names = list(table.contract.check_names)
    names += sorted({c.check for c in table.checks} - set(names))  # checks the contract lost
    cells = {(c.check, c.partition): c for c in table.checks if c.partition in partitions}
    return Grid(partitions, names, cells)


def not_passed(table: TableFacts) -> list[CheckFact]:
    """Every failed or warned result shown on the table's page, newest partition first."""
    return sorted(
        (c for c in table.checks if not c.passed), key=lambda c: c.partition, reverse=True
    )


def drift_events(table: TableFacts) -> list[tuple[str, dict]]:
    """(partition, finding) of every schema-drift finding the drift check reported."""
    events = []
    for check in table.checks:
        for finding in check.metadata.get("findings") or [] if check.check == DRIFT_CHECK else []:
            events.append((check.partition, finding))
    return sorted(events, key=lambda e: e[0], reverse=True)


def volume_band(table: TableFacts) -> dict[str, tuple[float, float]]:
    """Per partition, the row counts its volume check accepts given the partitions before it
    (the same history the check reads: the previous ``history_partitions`` in the table)."""
    volume = table.contract.volume
    keys = sorted(k for k in table.rows if k != NO_PARTITION)
    band = {}
    for i, key in enumerate(keys):
        history = tuple(
            table.rows[k] for k in reversed(keys[max(0, i - volume.history_partitions) : i])
        )
        accepted = accepted_range(history, volume)
        if accepted is not None:
            band[key] = accepted
    return band


DRIFT_WORDS = {
    "fail": "any column added, removed or retyped at the source stops the load",
    "ignore_extra": "new source columns are dropped and reported; anything else stops the load",
    "evolve": "new contract columns are added to the table; source columns that vanish load "
    "as empty when allowed; type changes stop the load",
}


def column_rules(column: Column) -> list[str]:
    """A column's rules in words a stakeholder reads."""
    rules = [] if column.nullable else ["always filled"]
    if column.min is not None:
        rules.append(f"at least {column.min:g}")
    if column.max is not None:
        rules.append(f"at most {column.max:g}")
    if column.accepted_values is not None:
        rules.append("one of " + ", ".join(column.accepted_values))
    if column.pattern is not None:
        rules.append(f"matches the pattern {column.pattern}")
    if column.references is not None:
        rules.append(f"must exist in {column.references}")
    if column.derive is not None:
        rules.append(f"computed as {column.derive}")
    return rules
