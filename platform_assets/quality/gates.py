"""Gates between layers: a partition whose checks failed is never consumed downstream.

Within one run Dagster already skips the downstream steps of a failed blocking check. A
later run (materializing ``stg_tickets`` alone for a day whose ``tickets`` gate failed) has
no such memory, so every transform starts with ``assert_upstream_gates``: it finds the
latest materialization of each upstream partition it reads, the check evaluations emitted
with that materialization (for that partition: the checks of a partitioned asset are
partitioned), and fails naming the asset, partition and check when one of them failed with
severity ERROR; another day's failure never blocks this one. Re-materializing the upstream
partition with data that passes its gates lifts the block. The evidence is read from the
Dagster instance (its event log), the same record the UI shows.

An upstream partition with no materialization at all fails the step the same way, before
anything is written: reading it would write an empty partition that fails its volume gate
and yet counts as materialized.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg

from platform_assets.contracts import Contract
from platform_assets.quality.drift import SchemaDriftError
from platform_assets.quality.evaluations import check_evaluations, evaluations_of

# An unpartitioned asset reading a partitioned one checks this many latest materializations.
GATE_LOOKBACK = 200


@dataclass(frozen=True)
class FailedGate:
    asset: str
    partition: str | None
    check: str
    description: str
    run_id: str

    def __str__(self) -> str:
        where = f"{self.asset}[{self.partition}]" if self.partition else self.asset
        return f"{where}: check {self.check} failed in run {self.run_id[:8]} ({self.description})"


def _latest_records(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None, partitioned: bool
) -> list[dg.EventLogRecord]:
    """The latest materialization of each upstream partition this step reads."""
    if partitioned and partition is not None:
        records_filter = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition])
        return list(instance.fetch_materializations(records_filter, limit=1).records)
    if not partitioned:
        return list(instance.fetch_materializations(key, limit=1).records)
    latest: dict[str | None, dg.EventLogRecord] = {}
    for record in instance.fetch_materializations(key, limit=GATE_LOOKBACK).records:
        latest.setdefault(record.partition_key, record)  # newest first
    return list(latest.values())


def _failed_checks(
    instance: dg.DagsterInstance, record: dg.EventLogRecord, cache: dict[str, list]
) -> list[FailedGate]:
    """ERROR-severity failures among the checks evaluated on this very materialization."""
    if record.run_id not in cache:
        cache[record.run_id] = check_evaluations(instance, record.run_id)
    failed = []
    for evaluation in evaluations_of(record, cache[record.run_id]):
        if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
            failed.append(
                FailedGate(
                    asset=record.asset_key.to_user_string(),
                    partition=record.partition_key,
                    check=evaluation.check_name,
                    description=evaluation.description or "",
                    run_id=record.run_id,
                )
            )
    return failed


@dataclass
class GateReport:
    failed: list[FailedGate]
    missing: list[str]  # upstream partitions never materialized: "orders[2026-03-10]"


def _missing(asset: str, partitioned: bool, partition: str | None) -> str:
    """How a never-materialized upstream is named in the failure."""
    if not partitioned:
        return asset
    return f"{asset}[{partition}]" if partition is not None else f"{asset}[any partition]"


def upstream_gates(
    instance: dg.DagsterInstance, upstream: Mapping[str, Contract], partition: str | None
) -> GateReport:
    """Failed ERROR checks on the latest materializations this step would read."""
    cache: dict[str, list] = {}
    report = GateReport([], [])
    for asset, contract in upstream.items():
        partitioned = contract.is_partitioned
        records = _latest_records(instance, dg.AssetKey(asset), partition, partitioned)
        if not records:
            report.missing.append(_missing(asset, partitioned, partition))
        for record in records:
            report.failed += _failed_checks(instance, record, cache)
    return report


def assert_upstream_gates(
    context: dg.AssetExecutionContext, upstream: Mapping[str, Contract]
) -> None:
    """Fail before reading anything when an upstream partition is missing or its gate failed."""
    partition = context.partition_key if context.has_partition_key else None
    report = upstream_gates(context.instance, upstream, partition)
    if report.missing:
        raise dg.Failure(
            description="Upstream never materialized in this Dagster instance, not reading it: "
            + ", ".join(report.missing)
            + ". Materialize the upstream first, then this step.",
            metadata={"missing_upstream": dg.MetadataValue.json(report.missing)},
            allow_retries=False,
        )
    if report.failed:
        raise dg.Failure(
            description="Upstream gate failed, not consuming its data: "
            + "; ".join(map(str, report.failed))
            + ". Fix the data and re-materialize the upstream partition.",
            metadata={
                "failed_gates": dg.MetadataValue.json(
                    [
                        {"asset": f.asset, "partition": f.partition, "check": f.check}
                        for f in report.failed
                    ]
                )
            },
            allow_retries=False,
        )
    context.log.info(f"upstream gates passed: {list(upstream)} (partition {partition})")


@contextmanager
def drift_fails_the_step(contract: Contract) -> Iterator[None]:
    """Schema drift the policy forbids fails the step at once: retrying cannot fix it."""
    try:
        yield
    except SchemaDriftError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"contract": contract.source_file, "drift_policy": contract.drift_policy},
            allow_retries=False,
        ) from exc
