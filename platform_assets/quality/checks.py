"""Blocking asset checks derived from contracts, evaluated in the warehouse per partition.

Checks run as SQL where the data lives, on exactly the partition just written, and are
declared on the asset (``check_specs``) so a failure blocks downstream steps in the run.
A check's severity (ERROR unless the contract's ``check_severity`` says WARN) decides
whether it is blocking: ERROR checks are, WARN checks are reported and never block. The
checks of a partitioned asset share its partitions, so each result belongs to the partition
it judged (the UI shows status per partition; the gates read that partition's). Metadata
carries what a person needs to act: counts, thresholds, history and a small sample of
failing rows, never the values of columns the contract marks ``pii``.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.contracts import Contract
from platform_assets.contracts.model import (
    DRIFT_CHECK,
    FOREIGN_KEY_PREFIX,
    PRIMARY_KEY_CHECK,
    QUARANTINE_CHECK,
    VALUES_CHECK,
    VOLUME_CHECK,
    Column,
)
from platform_assets.quality.anomaly import judge_volume
from platform_assets.quality.drift import (
    FrameDrift,
    tolerated,
    warehouse_columns,
    warehouse_findings,
)
from platform_assets.warehouse.sessions import Session
from platform_assets.warehouse.sql import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    distinct_keys,
    qualified,
    quote,
    table_name,
)

if TYPE_CHECKING:
    from platform_assets.warehouse.resource import Warehouse

__all__ = ["PRIMARY_KEY_CHECK", "LoadFacts", "check_specs", "run_checks"]

SAMPLE_SIZE = 5
QUARANTINE_SAMPLE_KEY = f"sample_quarantined (first {SAMPLE_SIZE})"  # a sample, never all
PII_MASK = "<pii>"
SQL_OPS = {"==": "="}
# Per quarantined row ``q``: its distinct (column ``c``, check ``k``) reasons, per dialect.
REASONS_PER_ROW = {
    "duckdb": (
        "SELECT DISTINCT e.r.column AS c, e.r.check AS k FROM (SELECT unnest(from_json("
        """q.reasons, '[{"column": "VARCHAR", "check": "VARCHAR"}]')) AS r) e"""
    ),
    "postgres": (
        "SELECT DISTINCT e ->> 'column' AS c, e ->> 'check' AS k "
        "FROM jsonb_array_elements(q.reasons) e"
    ),
}  # row-rule operators that SQL spells differently


@dataclass(frozen=True)
class LoadFacts:
    """What the asset knows about the load it just did, beyond what the warehouse holds."""

    partition_key: str = ""
    run_id: str | None = None
    loaded_rows: int | None = None
    frame_drift: FrameDrift | None = None
    evolved: tuple[str, ...] = ()
    collapsed_rows: int = 0  # exact duplicates of loaded rows: extracted, neither loaded nor bad


@dataclass(frozen=True)
class Outcome:
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Profile:
    """What one scan of the partition tells every check that reads its rows."""

    rows: int
    null_keys: int
    duplicated_keys: int
    violations: tuple[int, ...]  # rows breaking each value rule, ``value_predicates`` order


@dataclass(frozen=True)
class Scope:
    """One check run: a session, the contract and the partition it judges."""

    session: Session
    contract: Contract
    partition_value: date | None
    facts: LoadFacts
    _profile: list[Profile] = field(default_factory=list, compare=False, repr=False)

    def profile(self) -> Profile:
        """The partition's figures, from one scan shared by every check (see ``profile``)."""
        if not self._profile:
            self._profile.append(profile(self))
        return self._profile[0]

    @property
    def table(self) -> str:
        return table_name(self.contract)

    @property
    def params(self) -> dict[str, Any]:
        return {"partition": self.partition_value}

    def where(self, *clauses: str, alias: str = "") -> str:
        """`` WHERE`` over the partition (when partitioned) and the given clauses."""
        prefix = f"{alias}." if alias else ""
        parts = [f"({c})" for c in clauses if c]  # a clause may hold OR: keep it whole
        if self.contract.partition_column is not None:
            parts.append(f"{prefix}{quote(self.contract.partition_column)} = :partition")
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self.session.execute(sql, {**self.params, **(params or {})})[0][0]

    def sample(self, predicate: str, params: dict[str, Any] | None = None, alias: str = "") -> Any:
        """Up to SAMPLE_SIZE matching rows of the partition, PII columns left out."""
        shown = [c for c in self.contract.column_names if c not in self.contract.pii_columns]
        prefix = f"{alias}." if alias else ""
        columns = ", ".join(f"{prefix}{quote(c)}" for c in shown)
        keys = ", ".join(f"{prefix}{quote(k)}" for k in self.contract.primary_key)
        rows = self.session.execute(
            f"SELECT {columns} FROM {self.table} {alias}{self.where(predicate, alias=alias)} "  # noqa: S608
            f"ORDER BY {keys} LIMIT {SAMPLE_SIZE}",
            {**self.params, **(params or {})},
        )
        return dg.MetadataValue.json([dict(zip(shown, map(_text, r), strict=True)) for r in rows])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- specs ----------------------------------------------------------------------------------


def _parent(column: Column, catalog: Mapping[str, Contract]) -> Contract:
    """The contract a foreign key points at (the loader checked that it exists)."""
    return catalog[(column.references or "").split(".")[0]]


def _describe(contract: Contract, name: str, catalog: Mapping[str, Contract]) -> str:
    if name == PRIMARY_KEY_CHECK:
        keys = ", ".join(contract.primary_key)
        return f"Primary key ({keys}) is unique and never null in the partition."
    if name == VALUES_CHECK:
        return "Accepted values, min/max ranges and row rules hold in the warehouse."
    if name.startswith(FOREIGN_KEY_PREFIX):
        column = contract.column(name.removeprefix(FOREIGN_KEY_PREFIX))
        text = f"Every {column.name} exists in {column.references} (any partition)."
        if _parent(column, catalog).layer == "raw":
            text += " Orphans whose parent row sits in quarantine are counted apart, tolerated."
        return text
    if name == QUARANTINE_CHECK:
        return f"At most {contract.quarantine_threshold:.0%} of extracted rows are quarantined."
    if name == VOLUME_CHECK:
        volume = contract.volume
        text = f"At least {volume.min_rows} rows"
        if contract.is_partitioned:
            text += (
                f"; robust z-score (median/MAD) of the row count against the last "
                f"{volume.history_partitions} partitions within ±{volume.max_abs_z}, judged "
                f"from {volume.min_history} partitions of history on"
            )
        return text + "."
    return (
        f"Extracted columns and the warehouse table match {contract.source_file} "
        f"(drift_policy: {contract.drift_policy}); every difference is reported."
    )


def check_specs(
    contract: Contract,
    catalog: Mapping[str, Contract],
    partitions_def: dg.PartitionsDefinition | None,
) -> list[dg.AssetCheckSpec]:
    """One spec per check the contract implies, blocking when its severity is ERROR.

    ``catalog``: every contract of the project (foreign keys name their parents).
    ``partitions_def``: the asset's own, given to every check of a partitioned asset so a
    result is recorded for its partition (without it the latest result of any partition
    stands for the whole asset, and one failed day paints every day red)."""
    if (partitions_def is not None) != contract.is_partitioned:
        raise ValueError(
            f"{contract.source_file}: checks of table {contract.table} need "
            + ("the asset's partitions" if contract.is_partitioned else "no partitions")
            + f" (partition_column: {contract.partition_column})"
        )
    specs = []
    for name in contract.check_names:
        severity = contract.severity(name)
        suffix = "" if severity == "ERROR" else f" Severity {severity}: reported, never blocks."
        with warnings.catch_warnings():
            # Partitioned checks are a Dagster preview feature used on purpose; its one
            # PreviewWarning per process would only be noise in every CLI call.
            warnings.simplefilter("ignore", dg.PreviewWarning)
            spec = dg.AssetCheckSpec(
                name,
                asset=contract.table,
                blocking=severity == "ERROR",
                description=_describe(contract, name, catalog) + suffix,
                partitions_def=partitions_def,
            )
        specs.append(spec)
    return specs


# --- checks ---------------------------------------------------------------------------------


def _sum(predicate: str) -> str:
    return f"sum(CASE WHEN {predicate} THEN 1 ELSE 0 END)"


def profile(scope: Scope) -> Profile:
    """Rows, null keys, distinct keys and every value rule's violations in ONE scan; the
    duplicated keys in one more, when the distinct keys are fewer than the rows.

    The gates used to read the partition once per figure: a count for the volume, one for
    the null keys, one for the value rules, and the key grouped twice (the duplicate count,
    then its sample). Now the plain figures come from one aggregate over the partition; the
    keys are grouped only when their distinct count says some key repeats or is NULL (a
    NULL key is one group, as it was), and the sample's GROUP BY only when there is a
    duplicate to show. Carrying the rule counts through the GROUP BY instead was measured
    slower: per-group sums made PostgreSQL's hash table spill.
    """
    contract = scope.contract
    predicates = value_predicates(contract)
    params = {k: v for _, _, p in predicates for k, v in p.items()}
    keys = contract.primary_key
    any_null = " OR ".join(f"{quote(k)} IS NULL" for k in keys) if keys else "FALSE"
    judged = bool(keys) and PRIMARY_KEY_CHECK in contract.check_names
    distinct = distinct_keys(keys) if judged else "0"
    sums = [distinct, _sum(any_null), *(_sum(pred) for _, pred, _ in predicates)]
    row = scope.session.execute(
        f"SELECT count(*), {', '.join(sums)} FROM {scope.table}{scope.where()}",  # noqa: S608
        {**scope.params, **params},
    )[0]
    rows, distinct_count, nulls, *violations = (int(v or 0) for v in row)
    duplicated = 0
    if judged and distinct_count != rows:  # a key repeats (or a one-column key is NULL)
        grouped = f"FROM {scope.table}{scope.where()} GROUP BY {column_list(keys)}"
        duplicated = scope.scalar(
            f"SELECT count(*) FROM (SELECT 1 {grouped} HAVING count(*) > 1) AS d"  # noqa: S608
        )
    return Profile(rows, nulls, int(duplicated), tuple(violations))


def primary_key_check(scope: Scope) -> Outcome:
    """Counts null and duplicated keys; a sample of duplicated key values to act on."""
    contract = scope.contract
    keys = column_list(contract.primary_key)
    grouped = f"FROM {scope.table}{scope.where()} GROUP BY {keys} HAVING count(*) > 1"
    figures = scope.profile()
    nulls, duplicated = figures.null_keys, figures.duplicated_keys
    sample: list[tuple] = []
    if duplicated:  # the sample groups the partition again: only when there is one to show
        sample = scope.session.execute(
            f"SELECT {keys}, count(*) AS n {grouped} ORDER BY n DESC, {keys} LIMIT {SAMPLE_SIZE}",  # noqa: S608
            scope.params,
        )
    names = [*contract.primary_key, "copies"]
    masked = [
        [
            PII_MASK if n in contract.pii_columns else _text(v)
            for n, v in zip(names, row, strict=True)
        ]
        for row in sample
    ]
    return Outcome(
        passed=nulls == 0 and duplicated == 0,
        metadata={
            "null_keys": nulls,
            "duplicated_keys": duplicated,
            "primary_key": ", ".join(contract.primary_key),
            "sample_duplicates": dg.MetadataValue.json(
                [dict(zip(names, row, strict=True)) for row in masked]
            ),
        },
        description=f"{nulls} null keys, {duplicated} duplicated keys",
    )


def _column_predicates(column: Column) -> list[tuple[str, str, dict[str, Any]]]:
    name, q = column.name, quote(column.name)
    found: list[tuple[str, str, dict[str, Any]]] = []
    if column.accepted_values is not None:
        params = {f"{name}_v{i}": v for i, v in enumerate(column.accepted_values)}
        values = ", ".join(f":{p}" for p in params)
        predicate = f"{q} IS NOT NULL AND CAST({q} AS VARCHAR) NOT IN ({values})"
        found.append((f"{name} in accepted_values", predicate, params))
    if column.min is not None:
        found.append((f"{name} >= {column.min}", f"{q} < :{name}_min", {f"{name}_min": column.min}))
    if column.max is not None:
        found.append((f"{name} <= {column.max}", f"{q} > :{name}_max", {f"{name}_max": column.max}))
    return found


def value_predicates(contract: Contract) -> list[tuple[str, str, dict[str, Any]]]:
    """(rule, SQL predicate of a violating row, parameters) for every value rule."""
    found = [p for column in contract.columns for p in _column_predicates(column)]
    for rule in contract.row_rules:
        op = SQL_OPS.get(rule.op, rule.op)
        found.append((str(rule), f"NOT ({quote(rule.left)} {op} {quote(rule.right)})", {}))
    return found


def values_check(scope: Scope) -> Outcome:
    """Re-checks the contract's value rules on the loaded rows, where downstream reads them."""
    predicates = value_predicates(scope.contract)
    params = {k: v for _, _, p in predicates for k, v in p.items()}
    counts = scope.profile().violations
    violations = {rule: n for (rule, _, _), n in zip(predicates, counts, strict=True)}
    failing = [pred for (_, pred, _), n in zip(predicates, counts, strict=True) if n]
    metadata: dict[str, Any] = {
        "violations": dg.MetadataValue.json(violations),
        "failing_rows_total": sum(violations.values()),
    }
    if failing:
        metadata["sample_failing_rows"] = scope.sample(
            " OR ".join(f"({p})" for p in failing), params
        )
    bad = {rule: n for rule, n in violations.items() if n}
    return Outcome(not bad, metadata, f"violations: {bad}" if bad else "all value rules hold")


def _table_exists(session: Session, schema: str, table: str) -> bool:
    return bool(
        session.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = :schema AND table_name = :table",
            {"schema": schema, "table": table},
        )[0][0]
    )


def _quarantined_keys(session: Session, parent: Contract) -> str:
    """SQL: the distinct key values (as text, column ``k``) of the parent's quarantined rows.

    A derived table joined once (a hash join), never a per-row subquery over parsed JSON.
    """
    if parent.layer != "raw" or not _table_exists(session, QUARANTINE_SCHEMA, QUARANTINE_TABLE):
        return "SELECT CAST(NULL AS VARCHAR) AS k WHERE 1 = 0"
    json_type = "JSON" if session.dialect == "duckdb" else "jsonb"
    return (
        f"SELECT DISTINCT CAST(q.record AS {json_type}) ->> CAST(:parent_key AS VARCHAR) AS k "  # noqa: S608
        f"FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} q WHERE q.asset = :parent_asset"
    )


def foreign_key_check(scope: Scope, column: Column, parent: Contract) -> Outcome:
    """Orphans: child keys with no parent row; those whose parent was quarantined are apart."""
    parent_key = (column.references or "").split(".")[1]
    metadata: dict[str, Any] = {"references": column.references}
    if not _table_exists(scope.session, parent.schema, parent.table):
        metadata["parent_missing"] = f"{parent.schema}.{parent.table} does not exist"
        return Outcome(False, metadata, f"parent table {parent.table} does not exist")
    child = f"c.{quote(column.name)}"
    orphan = (
        f"{child} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table_name(parent)} p "  # noqa: S608
        f"WHERE p.{quote(parent_key)} = {child})"
    )
    quarantined = _quarantined_keys(scope.session, parent)
    params = {"parent_asset": parent.table, "parent_key": parent_key}
    orphans, keys, in_quarantine = scope.session.execute(
        f"SELECT count(*), count(DISTINCT o.k), count(qk.k) FROM "  # noqa: S608
        f"(SELECT {child} AS k FROM {scope.table} c{scope.where(orphan, alias='c')}) o "
        f"LEFT JOIN ({quarantined}) qk ON qk.k = CAST(o.k AS VARCHAR)",
        {**scope.params, **params},
    )[0]
    unexplained = orphans - in_quarantine
    metadata |= {
        "orphan_rows": orphans,
        "orphan_keys": keys,
        "orphans_with_quarantined_parent": int(in_quarantine),
        "orphans_unexplained": int(unexplained),
    }
    if unexplained:
        explained = (
            f"EXISTS (SELECT 1 FROM ({quarantined}) qk WHERE qk.k = CAST({child} AS VARCHAR))"  # noqa: S608
        )
        metadata["sample_orphans"] = scope.sample(f"{orphan} AND NOT {explained}", params, "c")
    text = f"{unexplained} orphaned rows without a parent, {in_quarantine} with a quarantined one"
    return Outcome(unexplained == 0, metadata, text)


def _safe_record(record: Any, contract: Contract) -> dict[str, Any]:
    record = json.loads(record) if isinstance(record, str) else record
    return {k: PII_MASK if k in contract.pii_columns else v for k, v in record.items()}


def _safe_reasons(reasons: Any, contract: Contract) -> list[dict[str, Any]]:
    reasons = json.loads(reasons) if isinstance(reasons, str) else reasons
    return [
        {**r, "value": PII_MASK}
        if set(str(r.get("column", "")).split(",")) & contract.pii_columns
        else r
        for r in reasons
    ]


def _reason_counts(session: Session, source: str, params: dict[str, Any]) -> dict[str, int]:
    """Quarantined rows per reason ("column: check"), over ALL rows of ``source``, in SQL.

    A row counts once per reason it holds, however many values of it failed; the largest
    count first, ties by name. Only column and check names leave the table: never a value.
    """
    per_row = REASONS_PER_ROW[session.dialect]
    rows = session.execute(
        f"SELECT r.c, r.k, count(*) AS n FROM (SELECT * {source}) q "  # noqa: S608 - no values
        f"CROSS JOIN LATERAL ({per_row}) r GROUP BY r.c, r.k ORDER BY n DESC, r.c, r.k",
        params,
    )
    return {f"{column}: {check}": int(n) for column, check, n in rows}


def quarantine_check(scope: Scope) -> Outcome:
    """Share of this load's extracted rows that went to platform.quarantine.

    ``reasons`` counts every quarantined row of the load (an SQL aggregate); the records
    shown are a sample, and their key says so."""
    contract, facts = scope.contract, scope.facts
    clauses = "asset = :asset AND partition_key = :partition_key"
    params: dict[str, Any] = {"asset": contract.table, "partition_key": facts.partition_key}
    if facts.run_id is not None:
        clauses += " AND run_id = :run_id"
        params["run_id"] = facts.run_id
    source = f"FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} WHERE {clauses}"
    quarantined = scope.scalar(f"SELECT count(*) {source}", params)  # noqa: S608
    loaded = facts.loaded_rows
    if loaded is None:
        loaded = scope.scalar(f"SELECT count(*) FROM {scope.table}{scope.where()}")  # noqa: S608
    extracted = quarantined + loaded + facts.collapsed_rows
    rate = quarantined / extracted if extracted else 0.0
    threshold = contract.quarantine_threshold or 0.0
    sample = scope.session.execute(
        f"SELECT record, reasons {source} ORDER BY quarantined_at LIMIT {SAMPLE_SIZE}",  # noqa: S608
        params,
    )
    metadata = {
        "rows_quarantined": quarantined,
        "rows_extracted": extracted,
        "quarantine_rate": round(rate, 6),
        "threshold": threshold,
        "reasons": dg.MetadataValue.json(_reason_counts(scope.session, source, params)),
        QUARANTINE_SAMPLE_KEY: dg.MetadataValue.json(
            [
                {"record": _safe_record(r, contract), "reasons": _safe_reasons(why, contract)}
                for r, why in sample
            ]
        ),
    }
    text = f"{quarantined} of {extracted} rows quarantined ({rate:.2%}; max {threshold:.2%})"
    return Outcome(rate <= threshold, metadata, text)


def volume_check(scope: Scope) -> Outcome:
    """Rows in the partition against min_rows and the trailing history of the same table."""
    contract, volume = scope.contract, scope.contract.volume
    count = scope.profile().rows
    history_rows: list[tuple] = []
    if contract.partition_column is not None:
        column = quote(contract.partition_column)
        history_rows = scope.session.execute(
            f"SELECT {column}, count(*) FROM {scope.table} WHERE {column} < :partition "  # noqa: S608
            f"GROUP BY {column} ORDER BY {column} DESC LIMIT {int(volume.history_partitions)}",
            scope.params,
        )
    history = tuple(int(n) for _, n in history_rows)
    verdict = judge_volume(count, history, volume, contract.is_partitioned)
    metadata: dict[str, Any] = {
        "row_count": count,
        "min_rows": volume.min_rows,
        "max_abs_z": volume.max_abs_z,
        "min_history": volume.min_history,
        "history": dg.MetadataValue.json(
            [{"partition": str(p), "rows": int(n)} for p, n in history_rows]
        ),
        "verdict": verdict.reason,
    }
    if verdict.median is not None:
        metadata |= {"median": verdict.median, "mad": verdict.mad, "z": verdict.z}
    return Outcome(verdict.passed, metadata, verdict.reason)


def drift_check(scope: Scope) -> Outcome:
    """Extracted-column and warehouse-table drift, each finding judged by the drift policy."""
    contract, facts = scope.contract, scope.facts
    findings = facts.frame_drift.findings() if facts.frame_drift is not None else []
    findings += warehouse_findings(contract, warehouse_columns(scope.session, contract))
    for finding in findings:
        finding["tolerated"] = tolerated(contract, finding)
    violations = [f for f in findings if not f["tolerated"]]
    metadata = {
        "drift_policy": contract.drift_policy,
        "contract": contract.source_file,
        "findings": dg.MetadataValue.json(findings),
        "violations": len(violations),
        "evolved_columns": dg.MetadataValue.json(list(facts.evolved)),
    }
    summary = "; ".join(f"{f['where']} {f['kind']}: {f['column']}" for f in findings)
    return Outcome(not violations, metadata, summary or "no drift")


# --- running --------------------------------------------------------------------------------


def _checks(
    contract: Contract, catalog: Mapping[str, Contract]
) -> list[tuple[str, Callable[[Scope], Outcome]]]:
    by_name: dict[str, Callable[[Scope], Outcome]] = {
        PRIMARY_KEY_CHECK: primary_key_check,
        VALUES_CHECK: values_check,
        QUARANTINE_CHECK: quarantine_check,
        VOLUME_CHECK: volume_check,
        DRIFT_CHECK: drift_check,
    }
    for column in contract.foreign_keys:
        parent = _parent(column, catalog)
        by_name[f"{FOREIGN_KEY_PREFIX}{column.name}"] = lambda s, c=column, p=parent: (
            foreign_key_check(s, c, p)
        )
    return [(name, by_name[name]) for name in contract.check_names]


def run_checks(
    warehouse: Warehouse,
    contract: Contract,
    catalog: Mapping[str, Contract],
    partition_value: date | None,
    facts: LoadFacts | None = None,
) -> list[dg.AssetCheckResult]:
    """Every check of the contract on one partition, in one warehouse session."""
    results = []
    with warehouse.session() as session:
        scope = Scope(session, contract, partition_value, facts or LoadFacts())
        for name, check in _checks(contract, catalog):
            started = time.perf_counter()
            outcome = check(scope)
            seconds = round(time.perf_counter() - started, 4)  # what this gate costs (bench/)
            results.append(
                dg.AssetCheckResult(
                    check_name=name,
                    asset_key=contract.table,
                    passed=bool(outcome.passed),
                    severity=dg.AssetCheckSeverity[contract.severity(name)],
                    metadata={**outcome.metadata, "duration_s": seconds},
                    description=outcome.description,
                )
            )
    return results
