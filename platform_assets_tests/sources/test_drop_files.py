"""The one parser of CSV drops, on real files: what a run extracts, and what it rejects.

The sensor judges files with the same parser (test_drop_sensor.py); here a run of the
``marketing_spend`` asset reads them through ``LandingDirectory.csv_chunks``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.components.raw_asset import ExtractRequest, RawSource, build_raw_asset
from platform_assets.contracts import contracts
from platform_assets.sources.drop_csv import (
    EXTRA_FIELDS,
    MalformedDropError,
    read_drop,
    split_row_problems,
)
from platform_assets.sources.files import DropPattern, LandingDirectory
from platform_assets.warehouse.resource import Warehouse

DAY = dt.date(2026, 3, 10)
HEADER = b"date,channel,spend_usd,impressions,clicks\n"
GOOD = (
    b"2026-03-10,search,299.28,179420,5221\n"
    b"2026-03-10,social,737.00,13466,169\n"
    b"2026-03-10,video,2753.35,175394,6372\n"
)
BOM = b"\xef\xbb\xbf"
PATTERN = DropPattern.default("marketing_spend")


def write(directory: Path, content: bytes, name: str = "drop.csv") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_a_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    [frame] = read_drop(write(tmp_path, BOM + HEADER + GOOD))
    assert list(frame.columns)[:5] == ["date", "channel", "spend_usd", "impressions", "clicks"]
    clean, broken = split_row_problems(frame)
    assert broken == [] and list(clean.columns) == list(frame.columns)[:5]
    assert clean["channel"].tolist() == ["search", "social", "video"]


def test_rows_of_the_wrong_width_become_quarantine_entries_naming_line_and_counts(
    tmp_path: Path,
) -> None:
    content = (
        HEADER
        + GOOD
        + b"2026-03-10,email,1,234.50,86643,2925\n"  # a stray unquoted comma: 6 fields
        + b'2026-03-10,affiliate,"3,631.97",124169,3382\n'  # quoted: 5 fields, fine
        + b"2026-03-10,search,1.0,10\n"  # a short row: 4 fields
    )
    [frame] = read_drop(write(tmp_path, content))
    clean, broken = split_row_problems(frame)
    assert clean["channel"].tolist() == ["search", "social", "video", "affiliate"]
    assert clean["spend_usd"].tolist()[-1] == "3,631.97"
    assert [b["reasons"] for b in broken] == [
        [{"column": "*", "check": "field_count", "value": "line 5: 6 fields, the header has 5"}],
        [{"column": "*", "check": "field_count", "value": "line 7: 4 fields, the header has 5"}],
    ]
    assert broken[0]["record"] == {
        "date": "2026-03-10",
        "channel": "email",
        "spend_usd": "1",
        "impressions": "234.50",
        "clicks": "86643",
        EXTRA_FIELDS: ["2925"],
    }
    assert broken[1]["record"] == {
        "date": "2026-03-10",
        "channel": "search",
        "spend_usd": "1.0",
        "impressions": "10",
    }


def test_a_large_file_streams_in_chunks(tmp_path: Path) -> None:
    rows = b"".join(b"2026-03-10,search,1.0,%d,1\n" % i for i in range(2_500))
    frames = list(read_drop(write(tmp_path, HEADER + rows), chunk_size=1_000))
    assert [len(f) for f in frames] == [1_000, 1_000, 500]
    assert frames[-1]["impressions"].iloc[-1] == "2499"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            HEADER + GOOD + b'2026-03-10,"email,1.0,10,1\n2026-03-10,video,1.0,10,1\n',
            "line 5: unterminated quoted field: the record runs to the end of the file (line 6)",
        ),
        (HEADER + b"2026-03-10,s\xffcial,1.0,10,1\n", "line 2: not UTF-8 text: invalid start byte"),
        (b"", "line 1: empty file: no header"),
        (b"date,channel,date\n", "line 1: bad header ['date', 'channel', 'date']"),
    ],
)
def test_a_malformed_file_is_an_error_naming_file_line_and_problem(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = write(tmp_path, content)
    with pytest.raises(MalformedDropError) as caught:
        list(read_drop(path))
    assert str(caught.value).startswith(f"drop file {path}: {problem}")


def _asset() -> dg.AssetsDefinition:
    def extract(landing: LandingDirectory, request: ExtractRequest):  # noqa: ANN202
        assert request.day is not None
        return landing.csv_chunks(PATTERN.relative_path(request.day))

    source = RawSource("csv", "agency_drops", extract)
    catalog = contracts()
    return build_raw_asset(catalog["marketing_spend"], source, catalog)


def _run(tmp_path: Path, content: bytes) -> tuple[dg.ExecuteInProcessResult, Warehouse, Path]:
    landing = tmp_path / "landing"
    path = write(landing, content, PATTERN.relative_path(DAY))
    warehouse = Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    result = dg.materialize(
        [_asset()],
        partition_key=DAY.isoformat(),
        resources={"warehouse": warehouse, "agency_drops": LandingDirectory(path=str(landing))},
        raise_on_error=False,
    )
    return result, warehouse, path


def test_a_run_loads_a_bom_file_and_quarantines_rows_of_the_wrong_width(tmp_path: Path) -> None:
    content = BOM + HEADER + GOOD + b"2026-03-10,email,1,234.50,86643,2925\n2026-03-10,x,1\n"
    _result, warehouse, path = _run(tmp_path, content)
    rows = warehouse.query('SELECT channel FROM "raw"."marketing_spend" ORDER BY channel')
    assert rows == [("search",), ("social",), ("video",)]
    reasons = [
        json.loads(r)[0]
        for (r,) in warehouse.query('SELECT reasons FROM "platform"."quarantine" ORDER BY 1')
    ]
    assert [r["value"] for r in reasons] == [
        "line 5: 6 fields, the header has 5",
        "line 6: 3 fields, the header has 5",
    ]
    assert path.exists()  # loaded, not moved


def test_a_run_on_a_malformed_file_fails_at_once_and_rejects_it(tmp_path: Path) -> None:
    content = HEADER + GOOD + b'2026-03-10,"email,1.0,10,1\n'
    result, _warehouse, path = _run(tmp_path, content)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert not [e for e in result.all_events if e.event_type.value == "STEP_UP_FOR_RETRY"]
    rejected = path.parent / "rejected" / path.name
    message = failure.step_failure_data.error.message
    assert f"drop file {path}: line 5: unterminated quoted field" in message
    assert f"moved to {rejected}" in message
    assert not path.exists() and rejected.exists()
    reason = rejected.with_name(rejected.name + ".reason").read_text()
    assert reason.startswith("line 5: unterminated quoted field")


def test_a_run_collapses_exact_duplicates_and_quarantines_conflicting_ones(
    tmp_path: Path,
) -> None:
    """Item 10 end to end: the counts reach the materialization's metadata."""
    content = (
        HEADER
        + GOOD
        + b"2026-03-10,search,299.28,179420,5221\n"  # an exact copy of the first row
        + b"2026-03-10,email,10.00,100,1\n2026-03-10,email,12.00,100,1\n"  # a conflict
    )
    result, warehouse, _path = _run(tmp_path, content)
    [materialization] = result.asset_materializations_for_node("marketing_spend")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    counts = ("rows_extracted", "rows_loaded", "rows_collapsed", "rows_quarantined")
    assert [metadata[k] for k in counts] == [6, 3, 1, 2]
    [gate] = [e for e in result.get_asset_check_evaluations() if e.check_name == "quarantine_rate"]
    assert (gate.metadata["rows_extracted"].value, gate.metadata["rows_quarantined"].value) == (
        6,
        2,
    )
    rows = warehouse.query('SELECT channel FROM "raw"."marketing_spend" ORDER BY channel')
    assert rows == [("search",), ("social",), ("video",)]
    quarantined = warehouse.query('SELECT record, reasons FROM "platform"."quarantine"')
    assert sorted(json.loads(record)["spend_usd"] for record, _ in quarantined) == [10.0, 12.0]
    assert {json.loads(reasons)[0]["check"] for _, reasons in quarantined} == {
        "conflicting duplicate key"
    }
    assert {json.loads(reasons)[0]["value"] for _, reasons in quarantined} == {"2026-03-10,email"}
