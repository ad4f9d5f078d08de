"""Outcome digests: what a run left behind, reduced to a small, reviewable snapshot.

A speed-up must not change an outcome (issue 14). A digest holds, per table, the number of
loaded rows and a hash of them sorted, the number of quarantined records and a hash of them
(record and reasons), the multiset of quarantine reasons in full, and each gate's verdict.
Values are written in one canonical text per type, so DuckDB and PostgreSQL digest alike.

The snapshot lives in snapshots/outcomes.json; to accept an intended change of outcome:
``PLATFORM_UPDATE_SNAPSHOTS=1 make test``, and review the diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).parent / "snapshots" / "outcomes.json"
UPDATE_ENV = "PLATFORM_UPDATE_SNAPSHOTS"


def canonical(value: Any) -> Any:
    """One text per value whatever the backend returned: UTC ISO timestamps, ISO dates,
    floats by repr, decimals without trailing zeros, JSON text parsed."""
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def _line(value: Any) -> str:
    return json.dumps(canonical(value), sort_keys=True, ensure_ascii=False)


def sorted_hash(items: Iterable[Any]) -> str:
    """sha256 of the items' canonical lines, sorted: independent of load order."""
    digest = hashlib.sha256()
    for line in sorted(_line(item) for item in items):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def table_digest(loaded: list[Any], quarantined: list[tuple[Any, Any]]) -> dict[str, Any]:
    """``loaded``: the table's rows; ``quarantined``: (record, reasons) pairs."""
    pairs = [(_parsed(record), _parsed(reasons)) for record, reasons in quarantined]
    reasons = Counter(_line(reason) for _, why in pairs for reason in why)
    return {
        "loaded": len(loaded),
        "loaded_sha256": sorted_hash(list(row) for row in loaded),
        "quarantined": len(pairs),
        "quarantined_sha256": sorted_hash([record, why] for record, why in pairs),
        "reasons": dict(sorted(reasons.items())),
    }


def snapshot_entry(name: str, digest: dict[str, Any]) -> dict[str, Any]:
    """The committed digest called ``name``; with PLATFORM_UPDATE_SNAPSHOTS=1 it is rewritten
    from ``digest`` first (review the diff before committing it)."""
    stored = json.loads(SNAPSHOT.read_text()) if SNAPSHOT.exists() else {}
    if os.environ.get(UPDATE_ENV) == "1":
        stored[name] = json.loads(json.dumps(digest))
        SNAPSHOT.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    if name not in stored:
        raise AssertionError(f"{SNAPSHOT} has no {name!r}: run with {UPDATE_ENV}=1 and review")
    return stored[name]


# Gate metadata that is not an outcome: timings, samples (any rows may be shown), the
# contract's path on this machine.
NOT_OUTCOMES = ("duration_s", "sample_", "contract")


def gate_verdicts(result: Any) -> dict[str, dict[str, Any]]:
    """Each gate of a run: ``{"asset:check": {"passed": ..., <its figures>}}``; the figures
    (counts, rates, reason counts, findings) are outcomes a faster gate must reproduce."""
    verdicts = {}
    for evaluation in result.get_asset_check_evaluations():
        figures = {
            key: canonical(value.value)
            for key, value in evaluation.metadata.items()
            if not key.startswith(NOT_OUTCOMES)
        }
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        verdicts[name] = {"passed": evaluation.passed, **figures}
    return verdicts
