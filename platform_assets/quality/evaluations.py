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
