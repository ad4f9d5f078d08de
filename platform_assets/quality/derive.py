"""Columns a contract derives at extraction (``derive: utc_date(order_ts)``).

A source that sends a timestamp but no date still gets a partition column, without code.
The derived value is computed the way validation reads the source column (ISO 8601, to UTC),
so a row whose source value is unreadable gets no derived value and is quarantined with a
reason for both columns. A record that carries the column itself keeps the value it sent:
validation and the checks then judge it like any other field.
"""

from __future__ import annotations

import pandas as pd

from platform_assets.contracts import Contract
from platform_assets.contracts.model import DERIVATIONS, Column
from platform_assets.quality.validation import coerce_column


def derive_columns(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The frame with every derived column the source did not send added (as text)."""
    missing = [c for c in contract.derived_columns if c.name not in frame.columns]
    if not missing:
        return frame
    frame = frame.copy()
    for column in missing:
        assert column.derive is not None  # derived_columns holds only derived ones
        source = column.derive.source
        if source not in frame.columns:
            frame[column.name] = None  # the missing source column is reported as drift
            continue
        # Read by the source column's own grammar (a timestamp), then cut to its UTC day:
        # the date grammar would refuse a time of day.
        source_type = DERIVATIONS[column.derive.function][0]
        read_as = contract.column(source) if source in contract.column_names else None
        if read_as is None or read_as.type != source_type:
            read_as = Column(source, source_type, "")
        typed = coerce_column(frame[source], read_as)
        frame[column.name] = typed.dt.strftime("%Y-%m-%d").astype(object).where(typed.notna(), None)
    return frame
