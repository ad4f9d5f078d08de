"""Structured log lines without Dagster: the pipeline's fields on every line, JSON on demand.

Split from ``logging.py`` so that a process that is no Dagster step (the event consumer)
writes the same lines without paying Dagster's import (about 2 s and 100 MB here).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

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
