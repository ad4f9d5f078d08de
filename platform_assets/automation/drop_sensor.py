"""A sensor on the landing directory: each new drop file loads its day's partition, once.

Rules, per file in the table's drop folder (``DropPattern.directory`` under the landing
directory; not recursive, so ``rejected/`` is never re-read):

* Identity is ``(name, size, mtime)``, kept in the sensor cursor: the same file is never
  processed twice; a corrected re-delivery (new size or mtime) loads its partition again.
* A file the cursor does not know is compared with its partition's latest materialization,
  which records the digest of the file it was loaded from (``drop_sha256``): a file with the
  same content is recorded as seen, not loaded again. So a restart with a fresh cursor, a
  file rewritten unchanged, or a day loaded by the daily job or the CLI launches nothing.
* A file is only read once it is complete: its size and mtime unchanged since the previous
  tick and its mtime at least ``min_age_s`` old. Names starting with a dot are writes in
  progress (temp file + rename) and are left alone.
* Malformed files (name off the convention, before the first partition, bad header,
  undecodable text, broken quoting) move to ``<table>/rejected/`` with a ``<file>.reason``
  text next to them. The file's structure is judged by the parser runs use
  (``files.drop_rows``), so a file the sensor passes loads, and one it rejects would fail
  a run the same way (a UTF-8 BOM is fine for both). Rows with too few or too many fields
  do not reject a file: the run quarantines them, each with its line.
* A file for a day that is not a partition yet (today, the future) waits.
* A file for a day older than ``lookback_days`` before the latest partition is recorded as
  seen and listed in the tick's summary, not loaded: a landing directory full of history
  (a first start, a restored archive) must not flood the instance with runs. Old days are
  backfilled on purpose, from the UI.
* At most ``max_runs_per_tick`` runs per tick; the rest wait for the next tick.
* Runs are of a named job per table (``<table>_drop_job``), so the UI lists them together.

Alerting contract: every rejection is recorded as an ``AssetObservation`` on the table's asset
(runless, so it exists even though no run happened) with metadata ``platform/event =
"drop_rejected"``, ``file``, ``reason``, ``rejected_path``, plus an error in the tick's log.
An alerting sensor finds them with ``instance.fetch_observations(asset_key, ...)`` filtered on
that metadata key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import Contract
from platform_assets.sources.files import (
    DEFAULT_DIALECT,
    DROP_DIGEST_KEY,
    CsvDialect,
    DropPattern,
    LandingDirectory,
    file_digest,
    inspect_drop,
    reject_file,
)

REJECTED_EVENT = "drop_rejected"
EVENT_KEY = "platform/event"
DROP_FILE_TAG = "platform/drop_file"

Stat = tuple[int, int]  # (size in bytes, mtime in ns)


@dataclass
class DropCursor:
    """What the sensor remembers between ticks (JSON in the sensor cursor)."""

    processed: dict[str, Stat] = field(default_factory=dict)
    pending: dict[str, Stat] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> DropCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            processed={k: (v[0], v[1]) for k, v in data.get("processed", {}).items()},
            pending={k: (v[0], v[1]) for k, v in data.get("pending", {}).items()},
        )

    def dumps(self) -> str:
        return json.dumps({"processed": self.processed, "pending": self.pending}, sort_keys=True)


@dataclass
class Tick:
    """The outcome of one evaluation, before it is handed to Dagster."""

    cursor: DropCursor
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    in_progress: list[str] = field(default_factory=list)  # dot-files: writes not finished
    too_old: list[str] = field(default_factory=list)  # before the look-back: backfill instead
    loaded: list[str] = field(default_factory=list)  # its partition holds this very content


def _stat(path: Path) -> Stat:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def reject(
    context: dg.SensorEvaluationContext, table: str, path: Path, reason: str, day: date | None
) -> Path:
    """Move the file aside with its reason, and record an event an alert can find."""
    target = reject_file(path, reason)
    key = day.isoformat() if day else None
    partition = key if key and daily_partitions.has_partition_key(key) else None
    context.instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=table,
            partition=partition,
            metadata={
                EVENT_KEY: REJECTED_EVENT,
                "file": path.name,
                "reason": reason,
                "rejected_path": str(target),
            },
        )
    )
    context.log.error(f"rejected drop {path.name}: {reason}; moved to {target}")
    return target


class DropSensorLogic:
    """The decisions of one tick, apart from the decorator so the rules read top to bottom."""

    def __init__(
        self,
        contract: Contract,
        pattern: DropPattern,
        dialect: CsvDialect,
        min_age_s: float,
        max_runs_per_tick: int,
        lookback_days: int,
    ) -> None:
        self.table = contract.table
        self.pattern = pattern
        self.dialect = dialect
        self.min_age_s = min_age_s
        self.max_runs_per_tick = max_runs_per_tick
        self.lookback_days = lookback_days
        self.job_name = drop_job_name(contract.table)
        self.columns = contract.column_names
        self.derived = [c.name for c in contract.derived_columns]

    def evaluate(self, context: dg.SensorEvaluationContext, landing: LandingDirectory) -> Tick:
        previous = DropCursor.parse(context.cursor)
        tick = Tick(DropCursor())
        directory = Path(landing.path) / self.pattern.directory
        files = sorted(p for p in directory.iterdir() if p.is_file()) if directory.is_dir() else []
        for path in files:
            if path.name.startswith("."):
                tick.in_progress.append(path.name)
            else:
                self._consider(context, path, previous, tick)
        return tick

    def _consider(
        self, context: dg.SensorEvaluationContext, path: Path, previous: DropCursor, tick: Tick
    ) -> None:
        stat = _stat(path)
        if previous.processed.get(path.name) == stat:
            tick.cursor.processed[path.name] = stat  # seen before: never again
            return
        old_enough = time.time() - stat[1] / 1e9 >= self.min_age_s
        if previous.pending.get(path.name) != stat or not old_enough:
            tick.cursor.pending[path.name] = stat  # new or still changing: look again next tick
            tick.waiting.append(path.name)
            return
        day = self.pattern.day(path.name)
        reason = self._reason(path, day)
        if reason is not None:
            reject(context, self.table, path, reason, day)
            tick.rejected.append(path.name)
            return
        assert day is not None  # _reason rejects files without a day
        if day < self._oldest_day():
            tick.cursor.processed[path.name] = stat
            tick.too_old.append(path.name)
            return
        if not daily_partitions.has_partition_key(day.isoformat()) or (
            len(tick.run_requests) >= self.max_runs_per_tick
        ):
            tick.cursor.pending[path.name] = stat  # not a partition yet, or this tick is full
            tick.waiting.append(path.name)
            return
        tick.cursor.processed[path.name] = stat
        if self._already_loaded(context.instance, path, day):
            tick.loaded.append(path.name)
            return
        tick.run_requests.append(self._run_request(path, day, stat))

    def _already_loaded(self, instance: dg.DagsterInstance, path: Path, day: date) -> bool:
        """The partition's latest materialization was loaded from a file with this content."""
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(self.table), asset_partitions=[day.isoformat()]
            ),
            limit=1,
        ).records
        materialization = records[0].asset_materialization if records else None
        if materialization is None:
            return False
        recorded = materialization.metadata.get(DROP_DIGEST_KEY)
        return recorded is not None and recorded.value == file_digest(path)

    def _oldest_day(self) -> date:
        latest = daily_partitions.get_last_partition_key()
        assert latest is not None  # the partitions start in the past
        return date.fromisoformat(latest) - timedelta(days=self.lookback_days)

    def _reason(self, path: Path, day: date | None) -> str | None:
        if day is None:
            expected = self.pattern.name_pattern.replace("{date}", "YYYY-MM-DD")
            return f"file name does not match {expected}"
        first = daily_partitions.get_first_partition_key()
        if first is not None and day.isoformat() < first:
            return f"day {day} is before the first partition {first}"
        reason = inspect_drop(path, self.columns, self.dialect)
        if reason is not None and self.derived:  # derived columns may be left out of a file
            sent = [c for c in self.columns if c not in self.derived]
            return inspect_drop(path, sent, self.dialect) and reason
        return reason

    def _run_request(self, path: Path, day: date, stat: Stat) -> dg.RunRequest:
        return dg.RunRequest(
            run_key=f"{self.table}/{path.name}/{stat[0]}/{stat[1]}",
            job_name=self.job_name,
            partition_key=day.isoformat(),
            tags={DROP_FILE_TAG: path.name},
        )


def drop_job_name(table: str) -> str:
    return f"{table}_drop_job"


def build_drop_job(table: str) -> dg.UnresolvedAssetJobDefinition:
    """The job every run of a table's drop sensor belongs to: that table, one partition."""
    return dg.define_asset_job(
        drop_job_name(table),
        selection=dg.AssetSelection.assets(table),
        partitions_def=daily_partitions,
        description=f"Loads one day's {table} drop file (started by {table}_drop_sensor).",
    )


def build_drop_sensor(
    contract: Contract,
    resource_key: str,
    pattern: DropPattern | None = None,
    dialect: CsvDialect = DEFAULT_DIALECT,
    min_age_s: float = 5.0,
    max_runs_per_tick: int = 10,
    minimum_interval_seconds: int = 30,
    lookback_days: int = 7,
) -> dg.SensorDefinition:
    """``resource_key``: the ``LandingDirectory`` the files land in."""
    table = contract.table
    pattern = pattern or DropPattern.default(table)
    logic = DropSensorLogic(contract, pattern, dialect, min_age_s, max_runs_per_tick, lookback_days)

    @dg.sensor(
        name=f"{table}_drop_sensor",
        job=build_drop_job(table),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Loads each new {table} drop file into its partition; rejects bad files.",
        required_resource_keys={resource_key},
    )
    def _sensor(context: dg.SensorEvaluationContext, **_: object) -> dg.SensorResult:
        # A direct call (tests) also passes the resource by keyword: the key is a folder name.
        landing: LandingDirectory = getattr(context.resources, resource_key)
        tick = logic.evaluate(context, landing)
        summary = (
            f"{len(tick.run_requests)} run(s) requested, {len(tick.waiting)} file(s) waiting "
            f"({', '.join(tick.waiting[:5])}), {len(tick.rejected)} rejected, "
            f"{len(tick.in_progress)} temp file(s) being written, {len(tick.too_old)} older "
            f"than the {lookback_days}-day look-back left for backfills, {len(tick.loaded)} "
            "already loaded with the same content"
        )
        context.log.info(summary)
        return dg.SensorResult(
            run_requests=tick.run_requests,
            cursor=tick.cursor.dumps(),
            skip_reason=None if tick.run_requests else summary,
        )

    return _sensor
