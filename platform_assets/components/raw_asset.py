"""The asset every source table becomes: extract -> validate -> replace the partition.

What differs between source kinds is only where the chunks come from (an ``Extract``: a
REST endpoint, a SQL table or query, a CSV drop), which the source components configure.
"""

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_start
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.automation.executors import EXTRACT_QUEUE, celery_queue
from platform_assets.automation.partitions import daily_partitions, partition_date
from platform_assets.automation.policies import asset_policies
from platform_assets.components.metadata import (
    asset_tags,
    definition_metadata,
    source_system,
    warehouse_kind,
)
from platform_assets.components.retries import RETRY_POLICY, database_faults_by_kind
from platform_assets.contracts import Contract
from platform_assets.observability.logging import log_chunk, pipeline_log
from platform_assets.quality.checks import LoadFacts, check_specs, run_checks
from platform_assets.quality.drift import FrameDrift, prepare_table
from platform_assets.quality.gates import drift_fails_the_step
from platform_assets.redaction import redact_known
from platform_assets.sources.drop_csv import MalformedDropError, split_row_problems
from platform_assets.sources.progress import Log
from platform_assets.sources.rest import PermanentApiError
from platform_assets.warehouse.cursors import HighWaterMark
from platform_assets.warehouse.resource import LoadStats, Warehouse

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class ExtractRequest:
    """What one materialization asks a source for: its day, or the rows since the mark."""

    day: date | None
    since: datetime | None  # committed high-water mark of an incremental source
    log: Log  # context.log: progress and retries show in the run log

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The partition as a half-open UTC interval [day 00:00, next day 00:00)."""
        if self.day is None:
            raise ValueError("an unpartitioned source has no partition window")
        start = datetime.combine(self.day, day_start(), tzinfo=UTC)
        return start, start + timedelta(days=1)


Extract = Callable[[Any, ExtractRequest], Iterator["pd.DataFrame"]]
Provenance = Callable[[Any, ExtractRequest], dict[str, Any]]


@dataclass(frozen=True)
class RawSource:
    """How one source table is extracted: ``extract`` is called with the resource named
    ``resource_key`` (the source's connection) and the partition's request."""

    kind: str  # shown as a kind in the UI: api, sql, csv
    resource_key: str
    extract: Extract
    high_water_mark: str | None = None  # column: load incrementally, merging on the key
    source_tag: str = ""  # the source system (its defs folder), a tag in the UI
    # Metadata naming what a load read (a drop file and its digest), taken before reading:
    # recorded on the materialization so a sensor can tell the input was loaded already.
    provenance: Provenance | None = None


# Run tag: an incremental source re-reads every row (merged on the key as always), e.g.
# after rows were restored at the source with an updated_at older than the high-water mark.
FULL_REFRESH_TAG = "platform/full_refresh"


def full_refresh(tags: Mapping[str, str]) -> bool:
    value = tags.get(FULL_REFRESH_TAG, "false")
    if value not in ("true", "false"):
        raise dg.Failure(
            description=f"run tag {FULL_REFRESH_TAG} must be 'true' or 'false', got {value!r}",
            allow_retries=False,
        )
    return value == "true"


def load_metadata(
    warehouse: Warehouse, contract: Contract, day: date | None, stats: LoadStats, seconds: float
) -> dict[str, Any]:
    """What the UI plots over time: rows, quarantine rate and duration per materialization."""
    metadata: dict[str, Any] = {
        "dagster/row_count": warehouse.count(contract),
        "rows_extracted": stats.extracted,
        "rows_loaded": stats.loaded,
        "rows_quarantined": stats.quarantined,
        "rows_collapsed": stats.collapsed,  # exact duplicates: extracted = loaded + both
        "quarantine_rate": stats.quarantined / stats.extracted if stats.extracted else 0.0,
        "chunks": stats.chunks,
        "duration_s": round(seconds, 3),
    }
    if day is not None:
        metadata["dagster/partition_row_count"] = stats.loaded
    return metadata


class PhaseTimes:
    """Seconds spent per phase of one materialization (extract = waiting for the source),
    reported as ``phase_timings`` metadata: where a slow run spends its time (bench/)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(("extract_s", "validate_s", "load_s"), 0.0)

    def add(self, phase: str, seconds: float) -> None:
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - started)

    def timed_iter(self, phase: str, items: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
        while True:
            with self.timed(phase):
                item = next(items, None)
            if item is None:
                return
            yield item

    def rounded(self) -> dict[str, float]:
        return {phase: round(seconds, 4) for phase, seconds in self.seconds.items()}


def validation_batches(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
    """``quality.validation.validation_batches``, imported when a step runs (with pandas and
    pandera), not with the code location; a module attribute, so tests can shrink batches."""
    from platform_assets.quality.validation import validation_batches as batches

    return batches(frames)


def fail_fast(frames: Iterator["pd.DataFrame"]) -> Iterator["pd.DataFrame"]:
    """Permanent source errors bypass the step's RetryPolicy: a re-run cannot fix them."""
    try:
        yield from frames
    except (PermanentApiError, MalformedDropError) as exc:
        raise dg.Failure(description=redact_known(str(exc)), allow_retries=False) from exc


@contextmanager
def open_load(
    warehouse: Warehouse,
    contract: Contract,
    source: RawSource,
    context: dg.AssetExecutionContext,
    day: date | None,
) -> Iterator[tuple[Any, HighWaterMark | None]]:
    """A partition replace, or for incremental sources a merge on the key whose high-water
    mark is read and advanced inside the same transaction (it commits with the rows)."""
    run_id = context.run.run_id
    if source.high_water_mark is None:
        partition_key = context.partition_key if day else ""
        with warehouse.partition_writer(
            contract, day, asset=contract.table, partition_key=partition_key, run_id=run_id
        ) as writer:
            yield writer, None
        return
    with warehouse.merge_writer(contract, asset=contract.table, run_id=run_id) as writer:
        mark = HighWaterMark(writer.session, contract.table, source.high_water_mark)
        yield writer, mark
        mark.commit(run_id)


def build_raw_asset(
    contract: Contract, source: RawSource, catalog: Mapping[str, Contract]
) -> dg.AssetsDefinition:
    """``catalog``: every contract of the project (foreign-key parents are read by checks)."""
    partitions_def = daily_partitions if contract.is_partitioned else None  # checks too

    @dg.asset(
        key=contract.table,
        group_name="sources",
        description=contract.description,
        kinds={source.kind, "pandas", *warehouse_kind()},
        tags=asset_tags(contract, [source.source_tag or source_system(contract)]),
        deps=contract.referenced_tables,
        partitions_def=partitions_def,
        metadata=definition_metadata(contract, catalog),
        check_specs=check_specs(contract, catalog, partitions_def),
        **asset_policies(contract),
        required_resource_keys={"warehouse", source.resource_key},
        retry_policy=RETRY_POLICY,
        pool="warehouse",
        op_tags=celery_queue(EXTRACT_QUEUE),  # PLATFORM_EXECUTOR=celery: extract workers
    )
    def _raw(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        with database_faults_by_kind(context):
            return _load(context)

    def _load(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        # pandas and pandera load when a step runs, not with the code location
        import pandas as pd

        from platform_assets.quality.derive import derive_columns
        from platform_assets.quality.validation import validate_chunk

        warehouse: Warehouse = context.resources.warehouse
        day = partition_date(context.partition_key) if contract.is_partitioned else None
        started = time.monotonic()
        phases = PhaseTimes()
        drift = FrameDrift(contract)
        with drift_fails_the_step(contract):
            evolved = prepare_table(warehouse, contract)
        with (
            drift_fails_the_step(contract),
            open_load(warehouse, contract, source, context, day) as (writer, mark),
        ):
            resource = getattr(context.resources, source.resource_key)
            log = pipeline_log(context)  # run, job, asset, partition (+ chunk) on every line
            refresh = full_refresh(context.run.tags)
            request = ExtractRequest(day, mark.start if mark and not refresh else None, log)
            read_from = source.provenance(resource, request) if source.provenance else {}
            extracted = fail_fast(source.extract(resource, request))  # extractor logs progress
            extracted = validation_batches(extracted)  # pages joined: validation's fixed cost
            for number, frame in enumerate(phases.timed_iter("extract_s", extracted), start=1):
                with phases.timed("validate_s"):
                    frame, broken_rows = split_row_problems(frame)  # a CSV row's field count
                    frame = derive_columns(frame, contract)
                    chunk = validate_chunk(frame, contract, pd.Timestamp(day) if day else None)
                    chunk.quarantined[:0] = broken_rows
                    chunk = drift.add(chunk)
                log_chunk(log.bind(chunk=number), len(chunk.valid), len(chunk.quarantined))
                with phases.timed("load_s"):
                    writer.append(chunk)
                if mark is not None:
                    mark.observe(chunk.valid)
            commit_started = time.perf_counter()  # leaving the block commits the partition
        phases.add("commit_s", time.perf_counter() - commit_started)
        stats = writer.stats
        log.info(
            f"rows: {stats.loaded} loaded, {stats.quarantined} quarantined, "
            f"{stats.collapsed} exact duplicates collapsed"
        )
        with phases.timed("count_s"):
            metadata = load_metadata(warehouse, contract, day, stats, time.monotonic() - started)
        with phases.timed("gates_s"):
            check_results = run_checks(
                warehouse,
                contract,
                catalog,
                day,
                LoadFacts(
                    partition_key=context.partition_key if day else "",
                    run_id=context.run.run_id,
                    loaded_rows=stats.loaded,
                    collapsed_rows=stats.collapsed,
                    frame_drift=drift,
                    evolved=tuple(evolved),
                ),
            )
        # total_s: the whole body; what the phases leave of it is preparing the table and
        # opening the writer; what the step takes beyond it is Dagster's (events, outputs).
        phases.add("total_s", time.monotonic() - started)
        metadata["phase_timings"] = dg.MetadataValue.json(phases.rounded())
        return dg.MaterializeResult(
            metadata=metadata
            | read_from
            | (mark.metadata() | {"full_refresh": refresh} if mark else {}),
            check_results=check_results,
        )

    return dg.with_source_code_references([_raw])[0]  # + the Python that runs it
