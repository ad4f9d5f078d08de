"""The defect corpus (issue 12) through the real raw-asset path, on DuckDB and PostgreSQL.

The drop table is built by ``build_raw_asset`` like every configured drop, reads the CSV
with the landing directory's reader in 200-row chunks and validates 200-row batches, so a
2,000-row drop spans ten batches. What must become of each record is the generator's
ground truth (see ``KINDS`` in generator.py); kinds that today's main gets wrong are
expected failures (strict) naming the issue item that fixes them.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from platform_assets.components import raw_asset
from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.quality.validation import validation_batches
from platform_assets.sources.files import CsvDialect, LandingDirectory, inspect_drop
from platform_assets.warehouse.resource import Warehouse
from platform_assets.warehouse.sql import (
    QUARANTINE_SCHEMA,
    QUARANTINE_TABLE,
    column_list,
    qualified,
    table_name,
)
from platform_assets_tests.conftest import database_url
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
    Planted,
    corpus_contract,
    file_drop,
    row_drop,
)

RESOURCE = "corpus_landing"
RELATIVE = f"{TABLE}/{TABLE}_{DAY.isoformat()}.csv"
FAST_RETRIES = dg.RetryPolicy(max_retries=2, delay=0.01)  # the product's count, no waiting


def _extract(landing: LandingDirectory, request: ExtractRequest) -> Iterator[Any]:
    """The drop source's extraction (components/file_drop.py) with chunks of a batch."""
    assert request.day == DAY
    return landing.csv_chunks(RELATIVE, CsvDialect(), chunk_size=BATCH_ROWS)


@dataclass
class Landed:
    """What one materialization of a drop left in the warehouse, and how the run went."""

    drop: Drop
    path: Path
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

    def loaded_as(self, ident: str) -> list[dict[str, Any]]:
        return [row for row in self.loaded if row["campaign"] == ident]

    def quarantined_as(self, ident: str) -> list[dict[str, Any]]:
        return [q for q in self.quarantined if identify(q["record"], ident)]

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


def land(drop: Drop, root: Path, warehouse_url: str, instance: dg.DagsterInstance) -> Landed:
    """Writes the drop and materializes its partition through the real raw asset."""
    path = drop.write(root / "landing" / RELATIVE)
    contract = corpus_contract()
    with pytest.MonkeyPatch.context() as patch:
        # raising=False: should the step retry policy be renamed, the real one applies (slower).
        patch.setattr(raw_asset, "RETRY_POLICY", FAST_RETRIES, raising=False)
        small = functools.partial(validation_batches, rows=BATCH_ROWS)
        patch.setattr(raw_asset, "validation_batches", small)
        source = RawSource("csv", RESOURCE, _extract, source_tag="corpus")
        asset = build_raw_asset(contract, source, {TABLE: contract})
        warehouse = Warehouse(url=warehouse_url)
        result = dg.materialize(
            [asset],
            instance=instance,
            partition_key=DAY.isoformat(),
            resources={
                "warehouse": warehouse,
                RESOURCE: LandingDirectory(path=str(path.parents[1])),
            },
            raise_on_error=False,
        )
    warehouse.ensure_table(contract)  # a run that failed before loading still reads back empty
    loaded, quarantined = read_back(warehouse)
    return Landed(drop, path, result, loaded, quarantined)


# --- fixtures: one warehouse per backend, the row drop landed once in each -----------------


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """In memory: the runs' events need not outlive the module (and SQLite's commits per
    event cost more than the corpus itself here)."""
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One warehouse per backend for the module (a fresh PostgreSQL database, dropped after)."""
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path_factory.mktemp('corpus') / 'warehouse.duckdb'}"
        return
    server = request.getfixturevalue("postgres_url")
    name = f"platform_test_corpus_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield database_url(server, name)
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


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


@pytest.fixture(scope="module")
def landed(
    warehouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    instance: dg.DagsterInstance,
) -> Landed:
    """The row drop, landed once per backend (its outcome is read back into memory)."""
    root = tmp_path_factory.mktemp("corpus_rows")
    return land(row_drop(), root, emptied(warehouse_url), instance)


# --- expected failures: the kinds main gets wrong ------------------------------------------


def expected(kinds: tuple[Kind, ...]) -> list[Any]:
    return [
        pytest.param(
            k,
            id=k.name,
            marks=[pytest.mark.xfail(strict=True, reason=f"issue 12 item {k.item}")]
            if k.item
            else [],
        )
        for k in kinds
    ]


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


@pytest.mark.xfail(strict=True, reason="issue 12 items 9, 10, 13")
def test_no_defective_row_is_loaded(landed: Landed) -> None:
    """Every loaded row is a record the ground truth says must load, once."""
    must_load = Counter(p.ident for p in landed.drop.records if p.outcome == "load")
    loaded = Counter(row["campaign"] for row in landed.loaded)
    assert {k: n for k, n in loaded.items() if n != must_load.get(k)} == {}


@pytest.mark.xfail(strict=True, reason="issue 12 item 10")
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


def assert_kind(landed: Landed, planted: list[Planted]) -> None:
    """Each of the kind's records ended as the ground truth says, with its reasons."""
    assert planted, "the kind planted no record"
    line = {id(p): n for n, p in landed.drop.lines()}
    for ident in dict.fromkeys(p.ident for p in planted):
        own = [p for p in planted if p.ident == ident]
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


@pytest.mark.parametrize("kind", expected(ROW_KINDS))
def test_row_kind(landed: Landed, kind: Kind) -> None:
    assert_kind(landed, landed.drop.of_kind(kind.name))


@pytest.mark.parametrize("kind", expected(FILE_KINDS))
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
