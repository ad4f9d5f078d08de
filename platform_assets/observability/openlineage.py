"""OpenLineage events per asset materialization: START, then COMPLETE or FAIL.

Switched on by configuration: PLATFORM_OPENLINEAGE_URL (HTTP transport, e.g. Marquez; an
optional PLATFORM_OPENLINEAGE_API_KEY is sent as a bearer token) or PLATFORM_OPENLINEAGE_FILE
(one JSON event per line). A sensor reads finished runs from the instance and emits their
steps' events with their original times; the run ids are derived from the Dagster run and the
step, so a batch re-emitted after a failed tick is idempotent for the receiver.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg

from platform_assets.alerts.runs import RunCursor, finished_runs, run_events, user_error
from platform_assets.contracts import Contract, contracts
from platform_assets.redaction import redact, url_secrets
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.urls import dialect_of, duckdb_path

if TYPE_CHECKING:  # the client is imported by the sensor's tick, not by the code location
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import (
        InputDataset,
        Job,
        OutputDataset,
        RunEvent,
        RunState,
    )

PRODUCER = "https://github.com/platform_assets/platform_assets"
STEP_EVENTS = (
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
)


class LineageEmitError(RuntimeError):
    """The lineage backend refused or was unreachable; the message is free of secrets."""


class OpenLineage(dg.ConfigurableResource):
    url: str = ""  # HTTP transport base URL
    endpoint: str = "api/v1/lineage"
    api_key: str = ""
    file: str = ""  # file transport: JSON lines
    namespace: str = "platform_assets"

    @property
    def enabled(self) -> bool:
        return bool(self.url or self.file)

    def client(self) -> OpenLineageClient:
        from openlineage.client import OpenLineageClient
        from openlineage.client.transport.file import FileConfig, FileTransport
        from openlineage.client.transport.http import HttpConfig, HttpTransport

        if self.url:
            config: dict[str, Any] = {"url": self.url, "endpoint": self.endpoint, "timeout": 10}
            config["retry"] = {"total": 2, "backoff_factor": 0.2, "status_forcelist": [502, 503]}
            if self.api_key:
                config["auth"] = {"type": "api_key", "apiKey": self.api_key}
            transport: Any = HttpTransport(HttpConfig.from_dict(config))
        else:
            Path(self.file).parent.mkdir(parents=True, exist_ok=True)
            transport = FileTransport(FileConfig(log_file_path=self.file, append=True))
        return OpenLineageClient(transport=transport)

    def emit(self, client: OpenLineageClient, events: list[RunEvent]) -> None:
        import requests

        secrets = [*url_secrets(self.url), self.api_key] if self.url else []
        for event in events:
            try:
                client.emit(event)
            except (requests.RequestException, OSError) as exc:
                reason = redact(f"{type(exc).__name__}: {exc}", secrets)
                raise LineageEmitError(f"OpenLineage emit failed: {reason}") from None


def openlineage_from_env(env: Mapping[str, str] = os.environ) -> OpenLineage:
    secret = {name: dg.EnvVar(name) for name in ("PLATFORM_OPENLINEAGE_URL",) if env.get(name)}
    return OpenLineage(
        url=secret.get("PLATFORM_OPENLINEAGE_URL", ""),
        endpoint=env.get("PLATFORM_OPENLINEAGE_ENDPOINT", "api/v1/lineage"),
        api_key=(
            dg.EnvVar("PLATFORM_OPENLINEAGE_API_KEY")
            if env.get("PLATFORM_OPENLINEAGE_API_KEY")
            else ""
        ),
        file=env.get("PLATFORM_OPENLINEAGE_FILE", ""),
        namespace=env.get("PLATFORM_OPENLINEAGE_NAMESPACE", "platform_assets"),
    )


def dataset_namespace(warehouse_url: str) -> str:
    """Where the tables live, without credentials (OpenLineage naming: scheme://host:port)."""
    if dialect_of(warehouse_url) == "duckdb":
        return f"duckdb://{duckdb_path(warehouse_url).resolve()}"
    parts = urlsplit(warehouse_url)
    return f"postgres://{parts.hostname}:{parts.port or 5432}"


def dataset_name(warehouse_url: str, contract: Contract) -> str:
    if dialect_of(warehouse_url) == "duckdb":
        return f"{contract.schema}.{contract.table}"
    database = urlsplit(warehouse_url).path.lstrip("/") or "postgres"
    return f"{database}.{contract.schema}.{contract.table}"


@dataclass
class StepRecord:
    """What one asset step of a run logged."""

    step_key: str
    started: float | None = None
    ended: float | None = None
    outcome: str | None = None  # COMPLETE | FAIL
    error: str | None = None
    materializations: list[Any] = field(default_factory=list)


def steps_of(instance: dg.DagsterInstance, run_id: str) -> list[StepRecord]:
    steps: dict[str, StepRecord] = {}
    for record in run_events(instance, run_id, STEP_EVENTS):
        event = record.event_log_entry.get_dagster_event()
        step = steps.setdefault(event.step_key or "", StepRecord(event.step_key or ""))
        kind = event.event_type
        if kind == dg.DagsterEventType.STEP_START and step.started is None:
            step.started = record.timestamp
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            step.ended, step.outcome = record.timestamp, "COMPLETE"
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            step.ended, step.outcome = record.timestamp, "FAIL"
            step.error = user_error(event)
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            step.materializations.append(event.step_materialization_data.materialization)
    return [s for s in steps.values() if s.started is not None and s.step_key in contracts()]


class EventBuilder:
    def __init__(self, namespace: str, warehouse_url: str, deps: Mapping[str, list[str]]) -> None:
        self.namespace = namespace
        self.ds_namespace = dataset_namespace(warehouse_url)
        self.warehouse_url = warehouse_url
        self.deps = deps

    def _dataset_facets(self, contract: Contract) -> dict[str, Any]:
        from openlineage.client.generated import (
            column_lineage_dataset,
            ownership_dataset,
            schema_dataset,
        )

        facets: dict[str, Any] = {
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[
                    schema_dataset.SchemaDatasetFacetFields(
                        name=c.name, type=c.type, description=c.description
                    )
                    for c in contract.columns
                ]
            ),
            "ownership": ownership_dataset.OwnershipDatasetFacet(
                owners=[ownership_dataset.Owner(name=contract.owner)]
            ),
        }
        lineage = {
            c.name: column_lineage_dataset.Fields(
                inputFields=[
                    column_lineage_dataset.InputField(
                        namespace=self.ds_namespace,
                        name=dataset_name(self.warehouse_url, contracts()[ref.split(".")[0]]),
                        field=ref.split(".")[1],
                    )
                    for ref in c.lineage
                ]
            )
            for c in contract.columns
            if c.lineage
        }
        if lineage:
            facets["columnLineage"] = column_lineage_dataset.ColumnLineageDatasetFacet(
                fields=lineage
            )
        return facets

    def events(self, run_id: str, step: StepRecord) -> list[RunEvent]:
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunState
        from openlineage.client.generated import error_message_run

        contract = contracts()[step.step_key]
        ol_run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dagster:{run_id}:{step.step_key}"))
        job = Job(namespace=self.namespace, name=contract.table)
        inputs = [
            InputDataset(self.ds_namespace, dataset_name(self.warehouse_url, contracts()[d]))
            for d in self.deps.get(contract.table, [])
        ]
        name = dataset_name(self.warehouse_url, contract)
        output = OutputDataset(self.ds_namespace, name, facets=self._dataset_facets(contract))
        assert step.started is not None
        events = [self._event(RunState.START, step.started, ol_run_id, job, inputs, [output])]
        if step.outcome is None or step.ended is None:
            return events  # cancelled mid-step: no terminal event to report
        run_facets: dict[str, Any] = {}
        if step.outcome == "FAIL":
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=(step.error or "step failed")[:2000], programmingLanguage="python"
            )
        else:
            output = self._with_statistics(output, step)
        state = RunState.COMPLETE if step.outcome == "COMPLETE" else RunState.FAIL
        events.append(self._event(state, step.ended, ol_run_id, job, inputs, [output], run_facets))
        return events

    def _with_statistics(self, output: OutputDataset, step: StepRecord) -> OutputDataset:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.generated import output_statistics_output_dataset

        rows = None
        for materialization in step.materializations:
            meta = materialization.metadata
            for key in ("dagster/partition_row_count", "rows_loaded", "dagster/row_count"):
                if key in meta:
                    rows = int(meta[key].value)
                    break
        if rows is None:
            return output
        stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
        return OutputDataset(
            output.namespace,
            output.name,
            facets=output.facets,
            outputFacets={"outputStatistics": stats},
        )

    def _event(
        self,
        state: RunState,
        at: float,
        run_id: str,
        job: Job,
        inputs: list[InputDataset],
        outputs: list[OutputDataset],
        run_facets: dict[str, Any] | None = None,
    ) -> RunEvent:
        from openlineage.client.event_v2 import Run, RunEvent

        return RunEvent(
            eventType=state,
            eventTime=datetime.fromtimestamp(at, UTC).isoformat(),
            run=Run(runId=run_id, facets=run_facets or {}),
            job=job,
            producer=PRODUCER,
            inputs=inputs,
            outputs=outputs,
        )


def asset_deps(repository: dg.RepositoryDefinition) -> dict[str, list[str]]:
    graph = repository.asset_graph
    return {
        key.to_user_string(): sorted(p.to_user_string() for p in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }


@dg.sensor(
    name="openlineage_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Emits OpenLineage START/COMPLETE/FAIL per asset step of finished runs.",
)
def openlineage_sensor(
    context: dg.SensorEvaluationContext, openlineage: OpenLineage, warehouse: Warehouse
) -> dg.SensorResult | dg.SkipReason:
    if not openlineage.enabled:
        return dg.SkipReason("off: set PLATFORM_OPENLINEAGE_URL or PLATFORM_OPENLINEAGE_FILE")
    assert context.repository_def is not None, "the sensor reads deps from its code location"
    builder = EventBuilder(openlineage.namespace, warehouse.url, asset_deps(context.repository_def))
    runs, cursor = finished_runs(context.instance, RunCursor.parse(context.cursor))
    client, emitted = openlineage.client(), 0
    for run in runs:
        steps = steps_of(context.instance, run.run_id)
        events = [e for step in steps for e in builder.events(run.run_id, step)]
        openlineage.emit(client, events)  # raises: the cursor stays, the batch is retried
        emitted += len(events)
    return dg.SensorResult(
        cursor=cursor.dumps(), skip_reason=f"{emitted} event(s) emitted for {len(runs)} run(s)"
    )
