"""Structured logs: the fields on every line, readable in the UI, JSON on request."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from platform_assets.automation.partitions import daily_partitions
from platform_assets.observability.logging import log_chunk, pipeline_log, pipeline_loggers


@dg.asset(key="orders", partitions_def=daily_partitions)
def chunked(context) -> None:  # no annotation: this module uses postponed annotations
    log = pipeline_log(context)
    for number in (1, 2):
        log_chunk(log.bind(chunk=number), valid=1000, quarantined=number)
    log.info("rows: 2000 loaded, 3 quarantined")


def materialize(instance: dg.DagsterInstance, run_config: dict | None = None):
    defs = dg.Definitions(
        assets=[chunked],
        jobs=[dg.define_asset_job("load", selection=[chunked], partitions_def=daily_partitions)],
        loggers=pipeline_loggers({}),
    )
    job = defs.resolve_job_def("load")
    return job.execute_in_process(
        instance=instance, partition_key="2026-03-10", run_config=run_config or {}
    )


def test_ui_lines_carry_asset_partition_and_chunk(monkeypatch, capfd) -> None:
    monkeypatch.delenv("PLATFORM_LOG_FORMAT", raising=False)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(instance)
        messages = [
            r.user_message for r in instance.all_logs(result.run_id) if not r.is_dagster_event
        ]
    assert messages == [
        "chunk 1: 1000 rows valid, 1 quarantined [asset=orders partition=2026-03-10 chunk=1]",
        "chunk 2: 1000 rows valid, 2 quarantined [asset=orders partition=2026-03-10 chunk=2]",
        "rows: 2000 loaded, 3 quarantined [asset=orders partition=2026-03-10]",
    ]
    assert capfd.readouterr().out == ""  # text: no JSON anywhere


def test_json_format_writes_each_line_to_stdout(monkeypatch, capfd) -> None:
    monkeypatch.setenv("PLATFORM_LOG_FORMAT", "json")
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(instance)
    lines = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert [(line["level"], line["chunk"], line["message"]) for line in lines] == [
        ("DEBUG", 1, "chunk 1: 1000 rows valid, 1 quarantined"),
        ("DEBUG", 2, "chunk 2: 1000 rows valid, 2 quarantined"),
        ("INFO", None, "rows: 2000 loaded, 3 quarantined"),
    ]
    for line in lines:
        assert (line["run_id"], line["job"]) == (result.run_id, "load")
        assert (line["asset"], line["partition"]) == ("orders", "2026-03-10")


def test_json_run_logger_makes_dagsters_own_lines_json(monkeypatch, capfd) -> None:
    monkeypatch.delenv("PLATFORM_LOG_FORMAT", raising=False)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(instance, {"loggers": {"json": {"config": {"log_level": "DEBUG"}}}})
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line]
    events = {line["event"] for line in lines}
    assert {"STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS", "PIPELINE_SUCCESS"} <= events
    assert {line["run_id"] for line in lines} == {result.run_id}
    step_lines = [line for line in lines if line["step"]]
    assert {(line["asset"], line["partition"]) for line in step_lines} == {("orders", "2026-03-10")}
    [chunk_2] = [line for line in lines if line["chunk"] == 2]
    assert chunk_2["message"] == "chunk 2: 1000 rows valid, 2 quarantined"


def test_unknown_log_format_stops_the_code_location() -> None:
    with pytest.raises(ValueError, match="PLATFORM_LOG_FORMAT must be one of"):
        pipeline_loggers({"PLATFORM_LOG_FORMAT": "xml"})


@dg.asset(key="customers")
def quoting_a_url(context) -> None:
    pipeline_log(context).warning(
        "retrying postgresql://etl:pg-pass-7f3e2a@db.example/warehouse: connection reset"
    )


def test_pipeline_lines_never_carry_a_secret_variables_value(monkeypatch, capfd) -> None:
    """A line quoting a URL (an error, a retry) loses the password of PLATFORM_WAREHOUSE_URL,
    in the event log and in the JSON lines alike."""
    monkeypatch.setenv("PLATFORM_LOG_FORMAT", "json")
    monkeypatch.setenv("PLATFORM_WAREHOUSE_URL", "postgresql://etl:pg-pass-7f3e2a@db/warehouse")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([quoting_a_url], instance=instance)
        messages = [
            r.user_message for r in instance.all_logs(result.run_id) if not r.is_dagster_event
        ]
    assert messages == [
        "retrying postgresql://etl:***@db.example/warehouse: connection reset [asset=customers]"
    ]
    [line] = [json.loads(line) for line in capfd.readouterr().out.splitlines()]
    assert line["message"] == "retrying postgresql://etl:***@db.example/warehouse: connection reset"
