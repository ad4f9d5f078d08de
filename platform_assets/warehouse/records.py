"""What a load hands the warehouse: validated chunks, and quarantine rows as JSON text.

Validation (``platform_assets.quality``) produces these; the writers consume them. They
live here so the warehouse never imports the quality package that sits above it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ValidatedChunk:
    valid: pd.DataFrame
    quarantined: list[dict[str, Any]] = field(default_factory=list)  # {"record", "reasons"}
    extra_columns: list[str] = field(default_factory=list)  # extracted, not in the contract
    missing_columns: list[str] = field(default_factory=list)  # filled with nulls (evolve)
    non_null: dict[str, int] = field(default_factory=dict)  # per contract column, as extracted
    unparseable: dict[str, int] = field(default_factory=dict)  # non-null, not of the type

    @property
    def extracted(self) -> int:
        return len(self.valid) + len(self.quarantined)


def _storable(value: Any) -> Any:
    """JSON that PostgreSQL's jsonb accepts: no NaN/Infinity, no NUL characters, anywhere."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\\x00")
    return value


def reasons_json(reasons: list[dict[str, Any]]) -> str:
    return json.dumps(_storable(reasons), default=lambda v: _storable(str(v)), allow_nan=False)


def record_json(record: dict[str, Any]) -> str:
    return json.dumps(
        _storable(record), default=lambda v: _storable(str(v)), ensure_ascii=False, allow_nan=False
    )
