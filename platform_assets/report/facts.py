"""What the report shows, as plain data: no Dagster, no warehouse, no HTML.

Gathered from real sources by ``gather.py``, or made up by a benchmark; rendered by
``render.py``. Values here are already safe to publish: PII columns are masked at gathering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from platform_assets.contracts import Contract

NO_PARTITION = "no partition"  # an unpartitioned table, or a result that names no partition
PII_MASK = "<pii>"
Outcome = Literal["passed", "warned", "failed"]


@dataclass(frozen=True)
class CheckFact:
    """One check's latest result on one partition."""

    table: str
    check: str
    partition: str  # a partition key, or NO_PARTITION
    passed: bool
    severity: str  # ERROR | WARN
    description: str
    run_id: str | None
    at: float  # epoch seconds
    rule: str = ""  # the check's own description: which rule it judges
    metadata: Mapping[str, Any] = field(default_factory=dict)  # JSON-able, PII masked

    @property
    def outcome(self) -> Outcome:
        if self.passed:
            return "passed"
        return "warned" if self.severity == "WARN" else "failed"


@dataclass(frozen=True)
class AlertFact:
    kind: str
    severity: str
    title: str
    partition: str | None
    opened_at: float


@dataclass(frozen=True)
class QuarantineFacts:
    """Every quarantined row counted per partition and reason; a few masked records."""

    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # partition -> reason
    rows: Mapping[str, int] = field(default_factory=dict)  # partition -> quarantined rows
    samples: Sequence[Mapping[str, Any]] = ()  # {"partition", "record", "reasons"}


@dataclass(frozen=True)
class TableFacts:
    contract: Contract
    rows: Mapping[str, int]  # partition (or NO_PARTITION) -> rows in the warehouse
    materialized: Mapping[str, float]  # partition -> time of its latest materialization
    runs: Mapping[str, str]  # partition -> run id of its latest materialization
    checks: Sequence[CheckFact]
    quarantine: QuarantineFacts
    freshness: str  # fresh | warn | fail | unknown
    lag_s: float | None
    alerts: Sequence[AlertFact] = ()
    upstream: Sequence[str] = ()
    downstream: Sequence[str] = ()
    column_lineage: Mapping[str, Sequence[str]] = field(default_factory=dict)  # col -> t.col

    @property
    def table(self) -> str:
        return self.contract.table


@dataclass(frozen=True)
class ReportFacts:
    generated_at: datetime
    tables: Sequence[TableFacts]
    days: int  # the grid shows this many latest partitions
    ui_url: str | None = None  # Dagster UI: failed checks link to their run
