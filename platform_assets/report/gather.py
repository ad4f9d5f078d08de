"""Facts for the report from where they live: the Dagster instance, the warehouse, the
contracts and the alert store.

Check results are read per partition. A check evaluation that names its partition (a
partitioned check) is filed under it; one that does not is filed under the partition of the
materialization it was evaluated with in the same run (how checks declared on a partitioned
asset report today); an unpartitioned table's results are filed under "no partition". Only
the latest materialization of each partition counts, as in the UI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg

from platform_assets.alerts.freshness import state_for
from platform_assets.alerts.store import AlertStore
from platform_assets.contracts import Contract
from platform_assets.observability.lineage import column_lineage
from platform_assets.report.facts import (
    NO_PARTITION,
    AlertFact,
    CheckFact,
    QuarantineFacts,
    ReportFacts,
    TableFacts,
)
from platform_assets.report.graph import TableGraph
from platform_assets.report.warehouse_facts import mask_metadata, partition_rows, quarantine_facts
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sessions import Session

MATERIALIZATIONS_READ = 2000  # per table, newest first: enough for a year of daily re-runs


@dataclass
class Sources:
    """Where the facts come from; ``store`` is None when no alert state is configured."""

    instance: dg.DagsterInstance
    warehouse: Warehouse
    store: AlertStore | None
    graph: TableGraph
    _runs: dict[str, list[dg.EventLogRecord]] = field(default_factory=dict)

    def evaluations(self, run_id: str) -> list[dg.EventLogRecord]:
        """A run's check evaluation records, read once per run for every table."""
        if run_id not in self._runs:
            self._runs[run_id] = list(
                self.instance.get_records_for_run(
                    run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
                ).records
            )
        return self._runs[run_id]


def latest_materializations(
    instance: dg.DagsterInstance, contract: Contract, days: int
) -> dict[str, dg.EventLogRecord]:
    """The latest materialization of each of the table's ``days`` newest partitions."""
    records = instance.fetch_materializations(
        dg.AssetKey(contract.table), limit=MATERIALIZATIONS_READ
    ).records
    latest: dict[str, dg.EventLogRecord] = {}
    for record in records:  # newest first
        latest.setdefault(record.partition_key or NO_PARTITION, record)
    keep = sorted(latest, reverse=True)[:days]
    return {key: latest[key] for key in keep}


def _value(value: Any) -> Any:
    return value.value if isinstance(value, dg.MetadataValue) else value


def check_facts(
    sources: Sources, contract: Contract, latest: Mapping[str, dg.EventLogRecord]
) -> list[CheckFact]:
    """The latest result of each check on each partition, evaluated with the partition's
    latest materialization."""
    found: dict[tuple[str, str], CheckFact] = {}
    for partition, record in latest.items():
        for evaluation_record in sources.evaluations(record.run_id):
            evaluation = evaluation_record.event_log_entry.get_dagster_event()
            data = evaluation.asset_check_evaluation_data
            if data.asset_key.to_user_string() != contract.table:
                continue
            where = data.partition or partition
            fact = CheckFact(
                table=contract.table,
                check=data.check_name,
                partition=where,
                passed=data.passed,
                severity=data.severity.value,
                description=data.description or "",
                run_id=record.run_id,
                at=evaluation_record.timestamp,
                rule=sources.graph.rule(contract.table, data.check_name),
                metadata=mask_metadata(
                    {k: _value(v) for k, v in data.metadata.items()}, contract.pii_columns
                ),
            )
            previous = found.get((fact.check, where))
            if previous is None or previous.at <= fact.at:
                found[(fact.check, where)] = fact
    order = {name: i for i, name in enumerate(contract.check_names)}
    return sorted(found.values(), key=lambda f: (f.partition, order.get(f.check, len(order))))


def _since(latest: Mapping[str, Any], contract: Contract) -> str | None:
    """The oldest partition shown, minus the volume check's history (its band needs it)."""
    keys = [k for k in latest if k != NO_PARTITION]
    if not keys:
        return None
    oldest = date.fromisoformat(min(keys)) - timedelta(days=contract.volume.history_partitions)
    return oldest.isoformat()


def table_facts(
    sources: Sources,
    session: Session,
    contract: Contract,
    days: int,
    alerts: Sequence[AlertFact],
    now: float,
) -> TableFacts:
    latest = latest_materializations(sources.instance, contract, days)
    since = _since(latest, contract)
    if latest:
        rows = partition_rows(session, contract, since)
        quarantine = quarantine_facts(session, contract, since)
    else:  # never materialized: its table may not exist yet
        rows, quarantine = {}, QuarantineFacts()
    # Freshness as the alerts judge it: the age of the table's newest materialization.
    lag = max(now - max(r.timestamp for r in latest.values()), 0.0) if latest else None
    lineage = column_lineage(contract)
    return TableFacts(
        contract=contract,
        rows=rows,
        materialized={k: r.timestamp for k, r in latest.items()},
        runs={k: r.run_id for k, r in latest.items()},
        checks=check_facts(sources, contract, latest),
        quarantine=quarantine,
        freshness=state_for(contract, lag),
        lag_s=lag,
        alerts=alerts,
        upstream=sources.graph.upstream.get(contract.table, ()),
        downstream=sources.graph.downstream(contract.table),
        column_lineage={
            column: [f"{d.asset_key.to_user_string()}.{d.column_name}" for d in deps]
            for column, deps in (lineage.deps_by_column.items() if lineage else [])
        },
    )


def open_alerts(store: AlertStore | None) -> dict[str, list[AlertFact]]:
    by_table: dict[str, list[AlertFact]] = {}
    for row in store.open_alerts() if store is not None else []:
        fact = AlertFact(row.kind, row.severity, row.title, row.partition, row.opened_at)
        by_table.setdefault(row.asset or "", []).append(fact)
    return by_table


def gather(
    sources: Sources,
    contracts: Iterable[Contract],
    days: int,
    now: float,
    ui_url: str | None = None,
) -> ReportFacts:
    alerts = open_alerts(sources.store)
    with sources.warehouse.session() as session:  # one connection for every table
        tables = [
            table_facts(sources, session, contract, days, alerts.get(contract.table, []), now)
            for contract in contracts
        ]
    return ReportFacts(datetime.fromtimestamp(now, UTC), tables, days, ui_url)
