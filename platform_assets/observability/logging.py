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

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from platform_assets.redaction import redact_known

LOG_FORMAT_ENV = "PLATFORM_LOG_FORMAT"
LOG_FORMATS = ("text", "json")
FIELDS_ATTR = "platform_fields"
MESSAGE_ATTR = "platform_message"
PARTITION_TAG = "dagster/partition"
SHOWN_IN_TEXT = ("asset", "partition", "chunk")  # the UI already shows run and job
JSON_LOGGER = "platform_assets.pipeline"


class PipelineLog:
    """``context.log`` with the pipeline's fields attached to every line it writes."""

    def __init__(
        self, log: logging.Logger, fields: Mapping[str, Any], as_json: bool = False
    ) -> None:
        self._log = log
        self._json = as_json
        self.fields = dict(fields)

    def bind(self, **fields: Any) -> PipelineLog:
        return PipelineLog(self._log, {**self.fields, **fields}, self._json)

    def _emit(self, level: int, msg: str) -> None:
        msg = redact_known(msg)  # a line quoting an error or a URL never carries a secret
        shown = [f"{k}={self.fields[k]}" for k in SHOWN_IN_TEXT if self.fields.get(k) is not None]
        text = f"{msg} [{' '.join(shown)}]" if shown else msg
        extra = {FIELDS_ATTR: self.fields, MESSAGE_ATTR: msg}
        self._log.log(level, text, extra=extra)
        if self._json:
            json_stdout_logger().log(level, msg, extra=extra)

    def debug(self, msg: str) -> None:
        self._emit(logging.DEBUG, msg)

    def info(self, msg: str) -> None:
        self._emit(logging.INFO, msg)

    def warning(self, msg: str) -> None:
        self._emit(logging.WARNING, msg)

    def error(self, msg: str) -> None:
        self._emit(logging.ERROR, msg)


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


def log_format(env: Mapping[str, str] = os.environ) -> str:
    """PLATFORM_LOG_FORMAT, read when a step runs (text | json)."""
    fmt = env.get(LOG_FORMAT_ENV, "text").lower()
    if fmt not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {list(LOG_FORMATS)}, got {fmt!r}")
    return fmt


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is when a line is logged (redirected, captured)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        return  # always the current sys.stdout


def json_stdout_logger() -> logging.Logger:
    """A process-wide logger writing JSON lines to stdout (set up once, never propagated)."""
    logger = logging.getLogger(JSON_LOGGER)
    if not logger.handlers:
        handler = _StdoutHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


class JsonFormatter(logging.Formatter):
    """One JSON object per record: Dagster's record metadata plus the pipeline's fields."""

    def format(self, record: logging.LogRecord) -> str:
        meta: Mapping[str, Any] = getattr(record, "dagster_meta", None) or {}
        fields: Mapping[str, Any] = getattr(record, FIELDS_ATTR, None) or {}
        event = meta.get("dagster_event")
        tags = meta.get("job_tags") or {}
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "message": getattr(record, MESSAGE_ATTR, None)
            or meta.get("orig_message")
            or record.getMessage(),
            "run_id": meta.get("run_id"),
            "job": meta.get("job_name"),
            "step": meta.get("step_key"),
            "asset": meta.get("step_key"),  # asset steps are named after their asset
            "partition": tags.get(PARTITION_TAG),
            "chunk": None,
            "event": event.event_type_value if event is not None else None,
        }
        doc.update({k: v for k, v in fields.items() if v is not None})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str, sort_keys=True)


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
