"""Finished runs, read incrementally from the instance's event log with public APIs.

The alert sensors, the metrics exporter and the OpenLineage emitter all need the same
thing: every run that ended since last time, with the events it logged (materializations,
check evaluations, step starts and ends). A cursor of storage ids, one per terminal run
status, makes the read incremental and restart-safe (it is JSON, kept by whoever reads).
It lives in ``alerts`` because observability reads alerts, never the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import dagster as dg

FINISHED = (
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
)
STATUS = {
    dg.DagsterEventType.RUN_SUCCESS: "SUCCESS",
    dg.DagsterEventType.RUN_FAILURE: "FAILURE",
    dg.DagsterEventType.RUN_CANCELED: "CANCELED",
}
PARTITION_TAG = "dagster/partition"


@dataclass
class RunCursor:
    """The last storage id seen per terminal run event type."""

    after: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> RunCursor:
        return cls(dict(json.loads(raw))) if raw else cls()

    def dumps(self) -> str:
        return json.dumps(self.after, sort_keys=True)


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    job_name: str
    status: str  # SUCCESS | FAILURE | CANCELED
    tags: Mapping[str, str]
    storage_id: int

    @property
    def partition(self) -> str | None:
        return self.tags.get(PARTITION_TAG)


def finished_runs(
    instance: dg.DagsterInstance, cursor: RunCursor, limit: int = 100
) -> tuple[list[FinishedRun], RunCursor]:
    """Runs that ended after ``cursor`` (at most ``limit`` per status), oldest first."""
    runs: list[FinishedRun] = []
    after = dict(cursor.after)
    for event_type in FINISHED:
        records = instance.fetch_run_status_changes(
            dg.RunStatusChangeRecordsFilter(
                event_type=event_type, after_storage_id=after.get(event_type.value)
            ),
            limit=limit,
            ascending=True,
        ).records
        for record in records:
            after[event_type.value] = record.storage_id
            run = instance.get_run_by_id(record.run_id)
            if run is None:
                continue  # deleted since it ended: nothing left to report on
            runs.append(
                FinishedRun(
                    run_id=run.run_id,
                    job_name=run.job_name,
                    status=STATUS[event_type],
                    tags=dict(run.tags),
                    storage_id=record.storage_id,
                )
            )
    runs.sort(key=lambda r: r.storage_id)
    return runs, RunCursor(after)


def run_events(
    instance: dg.DagsterInstance, run_id: str, types: Iterable[dg.DagsterEventType]
) -> list[dg.EventLogRecord]:
    """Every event of those types one run logged, in order."""
    return list(instance.get_records_for_run(run_id, of_type=set(types)).records)


def user_error(event: dg.DagsterEvent) -> str:
    """What the step's code said: a ``dg.Failure``'s description (written for people), else
    the exception it raised, unwrapped from Dagster's own errors (``RuntimeError: ...``).
    Not the innermost cause: a ``_csv.Error`` under "drop file x: line 2: unterminated
    quoted field" says less than the message that wraps it."""
    failure = getattr(event.event_specific_data, "user_failure_data", None)
    if failure is not None and failure.description:
        return failure.description.strip()
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    return (error.message if error is not None else (event.message or "")).strip()
