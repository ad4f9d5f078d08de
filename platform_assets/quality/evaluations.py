"""Asset check evaluations read back from the Dagster instance: the one reader of them.

The gates (a later run must not consume a partition whose gate failed), the alert sensors,
the health command and the metrics exporter all judge the record the UI shows: the
``ASSET_CHECK_EVALUATION`` events a run logged in its event log.
"""

from __future__ import annotations

import dagster as dg


def check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list[dg.AssetCheckEvaluation]:
    """Every check evaluation the run logged, in the order it logged them."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    return [r.event_log_entry.get_dagster_event().asset_check_evaluation_data for r in records]


def evaluations_of(
    record: dg.EventLogRecord, in_run: list[dg.AssetCheckEvaluation]
) -> list[dg.AssetCheckEvaluation]:
    """The evaluations (among ``in_run``: those of the record's run) that judged this very
    materialization: its asset, its partition, its storage id. Another partition's result,
    or an earlier materialization's, never speaks for it."""
    found = []
    for evaluation in in_run:
        target = evaluation.target_materialization_data
        if evaluation.asset_key != record.asset_key:
            continue
        if target is not None and target.storage_id != record.storage_id:
            continue
        if evaluation.partition not in (None, record.partition_key):
            continue  # the checks of a partitioned asset record their partition
        found.append(evaluation)
    return found
