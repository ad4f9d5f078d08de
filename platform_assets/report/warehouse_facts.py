"""Rows per partition and the quarantine, read from the warehouse in a few aggregates.

Counts come from SQL over every row (never a sample); the only records read are a handful of
quarantined rows per table, and their PII columns are masked before they leave this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from platform_assets.contracts import Contract
from platform_assets.quality.checks import REASONS_PER_ROW
from platform_assets.report.facts import NO_PARTITION, PII_MASK, QuarantineFacts
from platform_assets.warehouse.sessions import Session
from platform_assets.warehouse.sql import QUARANTINE_SCHEMA, QUARANTINE_TABLE, qualified, quote

SAMPLES_PER_TABLE = 10
QUARANTINE = qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)


def table_exists(session: Session, schema: str, table: str) -> bool:
    rows = session.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_schema = :schema AND table_name = :table",
        {"schema": schema, "table": table},
    )
    return bool(rows[0][0])


def partition_rows(session: Session, contract: Contract, since: str | None) -> dict[str, int]:
    """Rows in the warehouse per partition from ``since`` on (one count when unpartitioned)."""
    if not table_exists(session, contract.schema, contract.table):
        return {}
    table = qualified(contract.schema, contract.table)
    if contract.partition_column is None:
        return {NO_PARTITION: int(session.execute(f"SELECT count(*) FROM {table}")[0][0])}  # noqa: S608
    column = quote(contract.partition_column)
    where, params = ("", {})
    if since is not None:
        where, params = f" WHERE {column} >= :since", {"since": date.fromisoformat(since)}
    query = f"SELECT {column}, count(*) FROM {table}{where} GROUP BY {column}"  # noqa: S608
    rows = session.execute(query, params)
    return {str(key): int(n) for key, n in rows if key is not None}


def _partition(key: str) -> str:
    return key or NO_PARTITION  # an unpartitioned table's quarantine rows have key ""


def _mask_record(record: Any, pii: set[str]) -> dict[str, Any]:
    record = json.loads(record) if isinstance(record, str) else dict(record)
    return {k: PII_MASK if k in pii else v for k, v in record.items()}


def _mask_reasons(reasons: Any, pii: set[str]) -> list[dict[str, Any]]:
    """A reason names its column(s) and may carry the failing value: masked for PII."""
    reasons = json.loads(reasons) if isinstance(reasons, str) else list(reasons)
    masked = []
    for reason in reasons:
        columns = set(str(reason.get("column", "")).split(","))
        masked.append(
            {**reason, "value": PII_MASK} if columns & pii and "value" in reason else reason
        )
    return masked


def quarantine_facts(session: Session, contract: Contract, since: str | None) -> QuarantineFacts:
    """Quarantined rows per partition and per reason ("column: check"), and masked samples."""
    if not table_exists(session, QUARANTINE_SCHEMA, QUARANTINE_TABLE):
        return QuarantineFacts()
    where = "asset = :asset" + (
        "" if since is None else " AND (partition_key >= :since OR partition_key = '')"
    )
    params: dict[str, Any] = {"asset": contract.table, "since": since}
    source = f"FROM {QUARANTINE} WHERE {where}"
    totals = session.execute(
        f"SELECT partition_key, count(*) {source} GROUP BY partition_key", params
    )  # noqa: S608
    per_row = REASONS_PER_ROW[session.dialect]
    reasons = session.execute(
        f"SELECT q.partition_key, r.c, r.k, count(*) FROM (SELECT * {source}) q "  # noqa: S608
        f"CROSS JOIN LATERAL ({per_row}) r GROUP BY q.partition_key, r.c, r.k",
        params,
    )
    counts: dict[str, dict[str, int]] = {}
    for key, column, check, n in reasons:
        counts.setdefault(_partition(key), {})[f"{column}: {check}"] = int(n)
    sample = session.execute(
        f"SELECT partition_key, record, reasons {source} "  # noqa: S608
        f"ORDER BY partition_key DESC, quarantined_at LIMIT {SAMPLES_PER_TABLE}",
        params,
    )
    pii = contract.pii_columns
    return QuarantineFacts(
        counts={
            p: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for p, c in counts.items()
        },
        rows={_partition(key): int(n) for key, n in totals},
        samples=[
            {
                "partition": _partition(k),
                "record": _mask_record(r, pii),
                "reasons": _mask_reasons(w, pii),
            }
            for k, r, w in sample
        ],
    )


def mask_metadata(value: Any, pii: set[str]) -> Any:
    """Check metadata as shown: any mapping entry named after a PII column is masked, however
    deep (samples of failing rows, duplicated keys, orphans)."""
    if isinstance(value, Mapping):
        return {k: PII_MASK if k in pii else mask_metadata(v, pii) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_metadata(v, pii) for v in value]
    return value
