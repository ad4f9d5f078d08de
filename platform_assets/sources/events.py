"""Landed event messages as the records a contract validates: one row per event.

A message body is a JSON object whose top-level fields are the event's columns (nested
values, e.g. a ``payload`` object, become their JSON text). Fields the contract lists but the
body lacks are null, so a missing field quarantines that event with its reason rather than
stopping the stream as schema drift would; fields the contract does not list are extra
columns, judged by its drift policy. Landing columns the contract names (``received_at``)
come from the landing row. A body that is no JSON object is extracted as a broken row
(``ROW_PROBLEM``) and quarantined with its reason, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from platform_assets.sources.drop_csv import ROW_PROBLEM

if TYPE_CHECKING:
    import pandas as pd

LANDING_COLUMNS = ("event_id", "received_at")  # filled from the landing row when a column
BODY_CHECK = "event_body"
BODY_SAMPLE_CHARS = 500

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def _decode(body: str) -> tuple[dict[str, Any] | None, str | None]:
    """The body's fields, or why it has none."""
    try:
        value = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        return None, f"body is not JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"body is not a JSON object but a {type(value).__name__}"
    return value, None


def _cell(value: Any) -> Any:
    """Nested JSON (objects, arrays) as its text: a contract column holds a scalar."""
    return _encoder.encode(value).decode() if isinstance(value, dict | list) else value


def events_frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Landed rows (``event_id``, ``received_at``, ``body``) as an object frame with the
    contract's ``columns`` (plus any extra body fields, for the drift policy)."""
    records: list[dict[str, Any]] = []
    extra: list[str] = []
    for row in rows:
        fields, problem = _decode(row.body)
        record: dict[str, Any] = dict.fromkeys(columns)
        for name, value in (fields or {}).items():
            if name not in record and name not in extra:
                extra.append(name)
            record[name] = _cell(value)
        for name in LANDING_COLUMNS:
            if name in record:
                record[name] = getattr(row, name)  # the landing row is the truth for these
        record[ROW_PROBLEM] = None if problem is None else {
            "reason": problem,
            "extra": [row.body[:BODY_SAMPLE_CHARS]],
            "check": BODY_CHECK,
        }  # fmt: skip
        records.append(record)
    order = [*columns, *extra, ROW_PROBLEM]
    # From tuples with object dtype: an integer field beside a null keeps its ints.
    import pandas as pd  # imported by the step, not with the code location

    return pd.DataFrame([[r.get(c) for c in order] for r in records], columns=order, dtype=object)
