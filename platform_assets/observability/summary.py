"""The per-asset summary of a run: what a person checks first after a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dagster as dg

from platform_assets.sources.broker import EventBroker

SOURCE_TAG = "platform/source"  # the asset's defs folder (components/raw_asset.py)


@dataclass
class AssetSummary:
    asset: str
    status: str  # materialized | not run
    rows_loaded: int | None = None
    rows_extracted: int | None = None  # event streams: the day's landed events
    rows_quarantined: int | None = None
    checks_passed: int = 0
    checks_warned: int = 0  # failed with severity WARN: reported, never blocking
    checks_failed: int = 0


def summarize(
    result: dg.ExecuteInProcessResult, asset_keys: Sequence[dg.AssetKey]
) -> list[AssetSummary]:
    rows = {key: AssetSummary(key.to_user_string(), "not run") for key in asset_keys}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        summary = rows[materialization.asset_key]
        summary.status = "materialized"
        metadata = materialization.metadata
        summary.rows_loaded = metadata["rows_loaded"].value if "rows_loaded" in metadata else None
        if "rows_extracted" in metadata:
            summary.rows_extracted = metadata["rows_extracted"].value
        if "rows_quarantined" in metadata:
            summary.rows_quarantined = metadata["rows_quarantined"].value
    for evaluation in result.get_asset_check_evaluations():
        summary = rows[evaluation.asset_key]
        if evaluation.passed:
            summary.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            summary.checks_warned += 1
        else:
            summary.checks_failed += 1
    return list(rows.values())


def format_summary(rows: Sequence[AssetSummary]) -> str:
    header = ("asset", "status", "rows loaded", "quarantined", "checks passed", "warnings",
              "checks failed")  # fmt: skip
    body = [
        (
            r.asset,
            r.status,
            "-" if r.rows_loaded is None else str(r.rows_loaded),
            "-" if r.rows_quarantined is None else str(r.rows_quarantined),
            str(r.checks_passed),
            str(r.checks_warned),
            str(r.checks_failed),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in (header, *body)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def event_streams(defs: dg.Definitions) -> dict[str, EventBroker]:
    """Each pushed event stream's asset and the broker of its defs folder."""
    resources = defs.resources or {}
    streams = {}
    for asset in defs.assets or []:
        assert isinstance(asset, dg.AssetsDefinition)
        for spec in asset.specs:
            broker = resources.get(spec.tags.get(SOURCE_TAG, ""))
            if isinstance(broker, EventBroker):
                streams[spec.key.to_user_string()] = broker
    return streams


def event_lines(rows: Sequence[AssetSummary], streams: Mapping[str, EventBroker]) -> list[str]:
    """What happened to events: a pushed stream builds from what its consumer landed, and
    with no broker configured (the embedded default) nothing lands: say so, not just 0."""
    lines = []
    for row in rows:
        broker = streams.get(row.asset)
        if broker is None:
            continue
        how = (
            f"from the broker in {broker.url_env}"
            if broker.configured
            else f"no broker configured: {broker.url_env} is not set"
        )
        if row.rows_extracted is None:
            lines.append(f"{row.asset}: not built ({how})")
        else:
            lines.append(f"{row.asset}: {row.rows_extracted} landed event(s) ({how})")
    return lines
