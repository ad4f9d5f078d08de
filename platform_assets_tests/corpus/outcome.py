"""Running a corpus source through the real raw asset, and judging what it left behind.

Shared by the CSV drop (test_corpus.py) and the API path (test_corpus_api.py): the asset is
``build_raw_asset`` for the corpus contract, with step retries that do not wait and
validation batches of ``BATCH_ROWS``, so duplicates planted far apart span batches.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.components import raw_asset
from platform_assets.components.raw_asset import RawSource, build_raw_asset
from platform_assets.quality.validation import validation_batches
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sql import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    qualified,
    table_name,
)
from platform_assets_tests.corpus.generator import (
    BATCH_ROWS,
    COLUMNS,
    DAY,
    TABLE,
    Drop,
    Kind,
    Planted,
    corpus_contract,
)

FAST_RETRIES = dg.RetryPolicy(max_retries=2, delay=0.01)  # the product's count, no waiting


@dataclass
class Landed:
    """What one materialization of a drop left in the warehouse, and how the run went."""

    drop: Drop
    path: Path | None  # the drop file (None: the records came from an API)
    result: dg.ExecuteInProcessResult
    loaded: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]  # {"record", "reasons"}

    @property
    def metadata(self) -> dict[str, Any]:
        events = self.result.get_asset_materialization_events()
        if not events:
            return {}
        return {k: v.value for k, v in events[-1].materialization.metadata.items()}

    @property
    def collapsed(self) -> int:
        """Exact duplicates collapsed into one row, as the materialization reports them."""
        counts = (v for k, v in self.metadata.items() if "collapsed" in k)
        return sum(v for v in counts if isinstance(v, int) and not isinstance(v, bool))

    @functools.cached_property
    def _loaded_by_campaign(self) -> dict[str, list[dict[str, Any]]]:
        index: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in self.loaded:
            index[row["campaign"]].append(row)
        return index

    @functools.cached_property
    def _quarantined_by_ident(self) -> tuple[dict[str, list[dict[str, Any]]], list[dict]]:
        """Records by campaign and by note; those of another shape, to search one by one."""
        index: dict[str, list[dict[str, Any]]] = defaultdict(list)
        other = []
        for entry in self.quarantined:
            keys = _idents(entry["record"])
            for key in keys:
                index[key].append(entry)
            if not keys:
                other.append(entry)
        return index, other

    def loaded_as(self, ident: str) -> list[dict[str, Any]]:
        return list(self._loaded_by_campaign.get(ident, []))

    def quarantined_as(self, ident: str) -> list[dict[str, Any]]:
        index, other = self._quarantined_by_ident
        found = index.get(ident, [])
        return found or [q for q in other if identify(q["record"], ident)]

    def failures(self) -> str:
        """The step failures' messages and their causes' (no stack traces: they name files)."""
        messages = []
        for event in self.result.get_step_failure_events():
            error = event.step_failure_data.error
            while error is not None:
                messages.append(error.message)
                error = error.cause
        return "\n".join(messages)

    def retries(self) -> int:
        retry = dg.DagsterEventType.STEP_UP_FOR_RETRY
        return sum(1 for e in self.result.all_events if e.event_type == retry)


def _idents(record: Any) -> set[str]:
    """The campaign and note of a record kept as a mapping of the drop's columns."""
    if not isinstance(record, dict):
        return set()
    return {v for v in (record.get("campaign"), record.get("note")) if isinstance(v, str)}


def identify(record: Any, ident: str) -> bool:
    """A quarantined record is the planted one whose campaign (or note) it holds."""
    if isinstance(record, dict) and ident in (record.get("campaign"), record.get("note")):
        return True
    # A record kept in another shape (e.g. a raw line with too many fields): search its text.
    return isinstance(record, dict | list | str) and _holds(record, ident)


def _holds(record: Any, ident: str) -> bool:
    text = record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)
    return f'"{ident}"' in text or f",{ident}," in text or text.startswith(f"{ident},")


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def read_back(warehouse: Warehouse) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    loaded = warehouse.query(
        f'SELECT {column_list(COLUMNS)} FROM {table_name(corpus_contract())} WHERE "date" = :day',  # noqa: S608
        {"day": DAY},
    )
    quarantined = warehouse.query(
        f"SELECT record, reasons FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} "  # noqa: S608
        "WHERE asset = :asset AND partition_key = :key",
        {"asset": TABLE, "key": DAY.isoformat()},
    )
    return (
        [dict(zip(COLUMNS, row, strict=True)) for row in loaded],
        [{"record": _json(r), "reasons": _json(why)} for r, why in quarantined],
    )


def materialize(
    source: RawSource, resource: Any, warehouse_url: str, instance: dg.DagsterInstance
) -> tuple[dg.ExecuteInProcessResult, list[dict[str, Any]], list[dict[str, Any]]]:
    """The corpus partition materialized from ``source`` (its connection: ``resource``);
    the run's result, then the loaded rows and the quarantined records read back."""
    contract = corpus_contract()
    with pytest.MonkeyPatch.context() as patch:
        # raising=False: should the step retry policy be renamed, the real one applies (slower).
        patch.setattr(raw_asset, "RETRY_POLICY", FAST_RETRIES)
        small = functools.partial(validation_batches, rows=BATCH_ROWS)
        patch.setattr(raw_asset, "validation_batches", small)
        asset = build_raw_asset(contract, source, {TABLE: contract})
        warehouse = Warehouse(url=warehouse_url)
        result = dg.materialize(
            [asset],
            instance=instance,
            partition_key=DAY.isoformat(),
            resources={"warehouse": warehouse, source.resource_key: resource},
            raise_on_error=False,
        )
    warehouse.ensure_table(contract)  # a run that failed before loading still reads back empty
    return result, *read_back(warehouse)


def emptied(url: str) -> str:
    """The warehouse without any corpus row: a drop that fails must not see an earlier one's."""
    contract, warehouse = corpus_contract(), Warehouse(url=url)
    warehouse.ensure_table(contract)
    with warehouse.session() as session:
        session.execute(f"DELETE FROM {table_name(contract)}")  # noqa: S608
        session.execute(
            f"DELETE FROM {qualified(QUARANTINE_SCHEMA, QUARANTINE_TABLE)} WHERE asset = :asset",  # noqa: S608
            {"asset": TABLE},
        )
    return url


def assert_kind(landed: Landed, planted: list[Planted]) -> None:
    """Each of the kind's records ended as the ground truth says, with its reasons."""
    assert planted, "the kind planted no record"
    line = {id(p): n for n, p in landed.drop.lines()}
    by_ident: dict[str, list[Planted]] = defaultdict(list)
    for p in planted:
        by_ident[p.ident].append(p)
    for ident, own in by_ident.items():
        must_load = [p for p in own if p.outcome == "load"]
        must_quarantine = [p for p in own if p.outcome == "quarantine"]
        loaded, quarantined = landed.loaded_as(ident), landed.quarantined_as(ident)
        assert len(loaded) == len(must_load), f"{ident}: loaded {loaded}"
        assert [row for row in loaded if row not in [p.values for p in must_load]] == []
        assert len(quarantined) == len(must_quarantine), f"{ident}: quarantined {quarantined}"
        for entry in quarantined:  # several only for conflicting duplicates: same reasons
            first = must_quarantine[0]
            missing = [
                str(want)
                for want in first.reasons
                if not any(want.matches(got, line[id(first)]) for got in entry["reasons"])
            ]
            assert missing == [], f"{ident}: reasons {entry['reasons']} lack {missing}"


def by_kind(kinds: tuple[Kind, ...]) -> list[Any]:
    """One test parameter per kind, named after it."""
    return [pytest.param(k, id=k.name) for k in kinds]
