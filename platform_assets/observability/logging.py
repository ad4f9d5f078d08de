"""Structured pipeline logs: run id, job, asset, partition and chunk on every line.

Asset code logs through ``pipeline_log(context)`` (and ``.bind(chunk=n)`` inside a chunk
loop). In the UI (the run's event log) a line reads ``chunk 3: 1000 rows valid, 0 quarantined
[asset=tickets partition=2026-03-10 chunk=3]``, whatever the format. With
PLATFORM_LOG_FORMAT=json every such line is also written to stdout as one JSON object
(run_id, job, asset, partition, chunk, level, message) for Elasticsearch, Datadog or Loki, in
whatever process runs the step (in-process, multiprocess, Celery worker).

Dagster's own lines (step started, output handled...) go to its console logger; the code
location also registers a ``json`` logger, so a run config of ``loggers: {json: {}}`` turns
those into JSON too (Dagster activates run loggers only through run config).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import dagster as dg

from platform_assets.observability.structured import (
    FIELDS_ATTR,
    JSON_LOGGER,
    LOG_FORMAT_ENV,
    LOG_FORMATS,
    MESSAGE_ATTR,
    PARTITION_TAG,
    SHOWN_IN_TEXT,
    JsonFormatter,
    PipelineLog,
    json_stdout_logger,
    log_format,
)

__all__ = [
    "FIELDS_ATTR",
    "JSON_LOGGER",
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "MESSAGE_ATTR",
    "PARTITION_TAG",
    "SHOWN_IN_TEXT",
    "JsonFormatter",
    "PipelineLog",
    "json_logger",
    "json_stdout_logger",
    "log_chunk",
    "log_format",
    "pipeline_log",
    "pipeline_loggers",
]


def pipeline_log(context: dg.AssetExecutionContext, **fields: Any) -> PipelineLog:
    """The helper every asset factory calls: the run's log with its fields bound."""
    base: dict[str, Any] = {
        "run_id": context.run.run_id,
        "job": context.job_name,
        "asset": context.asset_key.to_user_string(),
        "partition": context.partition_key if _partitioned(context) else None,
    }
    return PipelineLog(context.log, {**base, **fields}, as_json=log_format() == "json")


def _partitioned(context: dg.AssetExecutionContext) -> bool:
    """An unpartitioned asset in a partitioned run (in daily_job) has no partition."""
    return context.has_partition_key and context.assets_def.partitions_def is not None


@dg.logger(
    {"log_level": dg.Field(str, is_required=False, default_value="INFO")},
    description="JSON lines on stderr with run id, job, asset, partition and chunk.",
)
def json_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("platform_assets", level=init_context.logger_config["log_level"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    return logger


def pipeline_loggers(env: Mapping[str, str] = os.environ) -> dict[str, dg.LoggerDefinition]:
    """Definitions-level loggers a run config can pick: Dagster's console one, and ``json``.
    Validates PLATFORM_LOG_FORMAT when the code location loads, so a typo fails early."""
    log_format(env)
    return {"console": dg.colored_console_logger, "json": json_logger}


def log_chunk(log: PipelineLog, valid: int, quarantined: int) -> None:
    """One line per chunk (DEBUG: kept in the run log, hidden by the UI's default filter)."""
    log.debug(f"chunk {log.fields.get('chunk')}: {valid} rows valid, {quarantined} quarantined")
