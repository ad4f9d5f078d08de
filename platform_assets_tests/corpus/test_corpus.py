"""The defect corpus (issue 12) through the real raw-asset path, on DuckDB and PostgreSQL.

The drop table is built by ``build_raw_asset`` like every configured drop (outcome.py),
reads the CSV with the landing directory's reader in 200-row chunks and validates 200-row
batches, so a 2,000-row drop spans ten batches. What must become of each record is the generator's
ground truth (see ``KINDS`` in generator.py).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.components.raw_asset import ExtractRequest, RawSource
from platform_assets.sources.files import CsvDialect, LandingDirectory, inspect_drop
from platform_assets_tests.corpus.generator import (
    BATCH_ROWS,
    COLUMNS,
    DAY,
    FILE_KINDS,
    KINDS,
    ROW_KINDS,
    TABLE,
    Drop,
    Kind,
    file_drop,
    row_drop,
)
from platform_assets_tests.corpus.outcome import (
    Landed,
    assert_kind,
    by_kind,
    emptied,
    identify,
    materialize,
)
from platform_assets_tests.outcomes import gate_verdicts, snapshot_entry, table_digest

RESOURCE = "corpus_landing"
RELATIVE = f"{TABLE}/{TABLE}_{DAY.isoformat()}.csv"


def _extract(landing: LandingDirectory, request: ExtractRequest) -> Iterator[Any]:
    """The drop source's extraction (components/file_drop.py) with chunks of a batch."""
    assert request.day == DAY
    return landing.csv_chunks(RELATIVE, CsvDialect(), chunk_size=BATCH_ROWS)


def land(drop: Drop, root: Path, warehouse_url: str, instance: dg.DagsterInstance) -> Landed:
    """Writes the drop and materializes its partition through the real raw asset."""
    path = drop.write(root / "landing" / RELATIVE)
    source = RawSource("csv", RESOURCE, _extract, source_tag="corpus")
    landing = LandingDirectory(path=str(path.parents[1]))
    result, loaded, quarantined = materialize(source, landing, warehouse_url, instance)
    return Landed(drop, path, result, loaded, quarantined)


# --- the row drop, landed once per backend -----------------------------------------------


@pytest.fixture(scope="module")
def landed(
    warehouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    instance: dg.DagsterInstance,
) -> Landed:
    """The row drop, landed once per backend (its outcome is read back into memory)."""
    root = tmp_path_factory.mktemp("corpus_rows")
    return land(row_drop(), root, emptied(warehouse_url), instance)


# --- the ground truth itself ---------------------------------------------------------------


def test_the_corpus_plants_enough_kinds_at_known_records() -> None:
    drop = row_drop()
    assert len(KINDS) >= 30 and len({k.name for k in KINDS}) == len(KINDS)
    assert len(drop.records) == 2_000
    assert {p.kind for p in drop.records} == {"clean"} | {k.name for k in ROW_KINDS}
    outcomes = Counter(p.outcome for p in drop.records)
    assert outcomes["quarantine"] >= 40 and outcomes["collapse"] == 2
    spread = [p for p in drop.records if p.kind == "conflicting_duplicate_across_batches"]
    positions = [drop.records.index(p) // BATCH_ROWS for p in spread]
    assert positions == [0, 9]  # first and last batch


def test_the_ground_truth_names_each_record_s_line_in_the_file() -> None:
    drop = row_drop()
    reader = csv.reader(io.StringIO(drop.content().decode("utf-8"), newline=""))
    assert next(reader) == list(COLUMNS)
    starts, firsts = [], []
    while (row := next(reader, None)) is not None:
        if row:  # a blank line reads as []: no record
            starts.append(reader.line_num - sum(f.count("\n") for f in row))
            firsts.append(row[0])
    assert starts == [line for line, _ in drop.lines()]
    assert firsts == [p.text.split(",")[0] for p in drop.records]
    assert drop.truth()[0] == {
        "line": 2,
        "ident": drop.records[0].ident,
        "kind": "clean",
        "outcome": "load",
        "reasons": [],
    }


# --- the row drop: conservation and the clean rows -----------------------------------------


def test_conservation(landed: Landed) -> None:
    """Rows in = loaded + collapsed exact duplicates + quarantined, in the tables and in
    the materialization's metadata."""
    rows_in = len(landed.drop.records)
    assert rows_in == len(landed.loaded) + landed.collapsed + len(landed.quarantined)
    assert landed.metadata["rows_loaded"] == len(landed.loaded)
    assert landed.metadata["rows_quarantined"] == len(landed.quarantined)


def test_every_clean_row_is_loaded_unaltered(landed: Landed) -> None:
    clean = [p for p in landed.drop.records if p.kind == "clean"]
    by_campaign = {row["campaign"]: row for row in landed.loaded}
    missing = [p.ident for p in clean if p.ident not in by_campaign]
    assert missing == []
    altered = [p.ident for p in clean if by_campaign[p.ident] != p.values]
    assert altered == []
    wrongly_quarantined = [p.ident for p in clean if landed.quarantined_as(p.ident)]
    assert wrongly_quarantined == []


def test_no_defective_row_is_loaded(landed: Landed) -> None:
    """Every loaded row is a record the ground truth says must load, once."""
    must_load = Counter(p.ident for p in landed.drop.records if p.outcome == "load")
    loaded = Counter(row["campaign"] for row in landed.loaded)
    assert {k: n for k, n in loaded.items() if n != must_load.get(k)} == {}


def test_exact_duplicates_are_collapsed_and_counted(landed: Landed) -> None:
    collapse = [p for p in landed.drop.records if p.outcome == "collapse"]
    assert landed.collapsed == len(collapse) == 2


def test_every_quarantined_record_is_a_planted_defect(landed: Landed) -> None:
    """Nothing is quarantined that the ground truth does not know."""
    planted = [p for p in landed.drop.records if p.kind != "clean"]
    unknown = [
        q["record"]
        for q in landed.quarantined
        if not any(identify(q["record"], p.ident) for p in planted)
    ]
    assert unknown == []


# --- per kind -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", by_kind(ROW_KINDS))
def test_row_kind(landed: Landed, kind: Kind) -> None:
    assert_kind(landed, landed.drop.of_kind(kind.name))


@pytest.mark.parametrize("kind", by_kind(FILE_KINDS))
def test_file_kind(
    kind: Kind, warehouse_url: str, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """A drop of its own: the kind's records among clean ones; a file that cannot be read
    as CSV is rejected as a whole, a permanent error naming the file, with nothing loaded."""
    landed = land(file_drop(kind), tmp_path, emptied(warehouse_url), instance)
    own = landed.drop.of_kind(kind.name)
    if any(p.outcome == "reject" for p in own):
        assert not landed.result.success
        assert landed.path.name in landed.failures()
        assert landed.retries() == 0
        assert landed.loaded == [] and landed.quarantined == []
        return
    assert landed.result.success, landed.failures()
    assert_kind(landed, [p for p in landed.drop.records if p.kind == "clean"])
    assert_kind(landed, own)
    rows_in = len(landed.drop.records)
    assert rows_in == len(landed.loaded) + landed.collapsed + len(landed.quarantined)
    # One set of rules: the drop sensor accepts what the run reads.
    assert inspect_drop(landed.path, list(COLUMNS)) is None


def test_outcomes_match_the_committed_digest(landed: Landed) -> None:
    """Issue 14: no speed-up may change what is loaded, quarantined and why, or a gate's
    verdict (snapshots/outcomes.json; both backends must give the same digest)."""
    digest = table_digest(
        [[row[c] for c in COLUMNS] for row in landed.loaded],
        [(q["record"], q["reasons"]) for q in landed.quarantined],
    ) | {"gates": gate_verdicts(landed.result)}
    assert digest == snapshot_entry("corpus_csv", digest)
