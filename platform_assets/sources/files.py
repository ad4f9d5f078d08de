"""File drops: CSV files that an external party writes into a landing directory.

One file per daily partition, where a ``DropPattern`` says (by default
``<table>/<table>_{date}.csv`` under the landing directory). Files whose name starts with a
dot are writes in progress (write to a temp name, then rename).
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import dagster as dg
import pandas as pd

DATE_PLACEHOLDER = "{date}"
REJECTED_DIR = "rejected"  # beside the drops; the sensor does not look inside


class MissingDropError(FileNotFoundError):
    """The file for a partition has not arrived (yet)."""


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"


DEFAULT_DIALECT = CsvDialect()


@dataclass(frozen=True)
class DropPattern:
    """Where the file of a day lands: a path relative to the landing directory whose file
    name holds ``{date}`` (YYYY-MM-DD), e.g. ``spend/acme_spend_{date}.csv``."""

    pattern: str

    def __post_init__(self) -> None:
        path = PurePosixPath(self.pattern)
        if path.is_absolute() or ".." in path.parts:
            raise ValueError(f"drop pattern {self.pattern!r} must be relative to the landing dir")
        if path.name.count(DATE_PLACEHOLDER) != 1 or DATE_PLACEHOLDER in str(path.parent):
            raise ValueError(
                f"drop pattern {self.pattern!r}: the file name must hold {{date}} once"
            )

    @classmethod
    def default(cls, table: str) -> DropPattern:
        return cls(f"{table}/{table}_{DATE_PLACEHOLDER}.csv")

    @property
    def directory(self) -> str:
        """The folder the files land in, relative to the landing directory."""
        return str(PurePosixPath(self.pattern).parent)

    @property
    def name_pattern(self) -> str:
        return PurePosixPath(self.pattern).name

    def relative_path(self, day: date) -> str:
        return self.pattern.replace(DATE_PLACEHOLDER, day.isoformat())

    def day(self, file_name: str) -> date | None:
        """The partition day a file is for; None when the name breaks the pattern."""
        before, after = self.name_pattern.split(DATE_PLACEHOLDER)
        regex = f"^{re.escape(before)}(?P<day>\\d{{4}}-\\d{{2}}-\\d{{2}}){re.escape(after)}$"
        match = re.match(regex, file_name)
        if match is None:
            return None
        try:
            return date.fromisoformat(match["day"])
        except ValueError:
            return None


class MalformedDropError(ValueError):
    """A drop file whose structure cannot be trusted: undecodable text, broken quoting, no
    or a broken header. Permanent: the same bytes fail the same way on every retry."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"drop file {path}: line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem


# Extracted frames of a drop carry this column: None, or why the row's shape is wrong.
ROW_PROBLEM = "_platform_row_problem"
ROW_PROBLEM_CHECK = "field_count"
EXTRA_FIELDS = "_extra_fields"  # the record key of fields beyond the header's


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _decoded_lines(handle: BinaryIO, path: Path, encoding: str) -> Iterator[str]:
    """The file's lines as text, one at a time; a leading UTF-8 BOM is dropped (spreadsheet
    exports write one). Splitting bytes on newlines is safe for ASCII-compatible encodings."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        bom = number == 1 and raw.startswith(codecs.BOM_UTF8) and _is_utf8(encoding)
        text = raw[len(codecs.BOM_UTF8) :] if bom else raw
        try:
            yield text.decode(encoding)
        except UnicodeDecodeError as exc:
            where = offset + (len(raw) - len(text)) + exc.start
            raise MalformedDropError(
                path, number, f"not {encoding.upper()} text: {exc.reason} at byte {where}"
            ) from exc
        offset += len(raw)


@dataclass(frozen=True)
class DropRow:
    line: int  # where the record starts (a quoted field may span lines)
    fields: list[str]


def _csv_problem(exc: csv.Error, end: int) -> str:
    if "unexpected end of data" in str(exc):
        return f"unterminated quoted field: the record runs to the end of the file (line {end})"
    return f"unparseable CSV: {exc}"


def drop_rows(path: Path, dialect: CsvDialect = DEFAULT_DIALECT) -> Iterator[DropRow]:
    """Every record of a drop file, the header first, streamed; the one parser of drops.

    Raises MalformedDropError naming the line for undecodable bytes, broken quoting (e.g.
    an unterminated quote) and an empty file. Blank lines are no records and are skipped.
    """
    with path.open("rb") as handle:
        reader = csv.reader(
            _decoded_lines(handle, path, dialect.encoding),
            strict=True,
            delimiter=dialect.delimiter,
            quotechar=dialect.quotechar,
        )
        start, records = 1, 0
        while True:
            try:
                fields = next(reader, None)
            except csv.Error as exc:
                raise MalformedDropError(path, start, _csv_problem(exc, reader.line_num)) from exc
            if fields is None:
                if not records:
                    raise MalformedDropError(path, reader.line_num or 1, "empty file: no header")
                return
            if fields:
                records += 1
                yield DropRow(start, fields)
            start = reader.line_num + 1


def _header(rows: Iterator[DropRow], path: Path) -> list[str]:
    first = next(rows)
    header = first.fields
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated or "" in header:
        problem = f"duplicated columns {duplicated}" if duplicated else "an unnamed column"
        raise MalformedDropError(path, first.line, f"bad header {header[:20]}: {problem}")
    return header


def inspect_drop(
    path: Path, columns: Sequence[str], dialect: CsvDialect = DEFAULT_DIALECT
) -> str | None:
    """Why a drop file is malformed (None: it is well-formed), streaming through it once.

    The rules every run applies too (``drop_rows``: text, quoting, a header), plus the
    sensor's own: the header holds exactly the contract's columns. Rows with too few or too
    many fields are no reason to reject a file: a run quarantines them one by one.
    """
    try:
        rows = drop_rows(path, dialect)
        header = _header(rows, path)
        if sorted(header) != sorted(columns):
            return f"bad header {header[:20]}; expected the columns {list(columns)}"
        for _row in rows:
            pass
    except MalformedDropError as exc:
        return f"line {exc.line}: {exc.problem}"
    return None


def _frame(header: list[str], rows: list[DropRow]) -> pd.DataFrame:
    """Rows as text (empty fields are None) plus ROW_PROBLEM for rows of the wrong width."""
    width = len(header)
    values, problems = [], []
    for row in rows:
        fields = row.fields
        values.append([f or None for f in fields[:width]] + [None] * (width - len(fields)))
        if len(fields) == width:
            problems.append(None)
        else:
            problems.append(
                {
                    "reason": f"line {row.line}: {len(fields)} fields, the header has {width}",
                    "extra": fields[width:],
                }
            )
    frame = pd.DataFrame(values, columns=header, dtype=object)
    frame[ROW_PROBLEM] = pd.Series(problems, dtype=object, index=frame.index)
    return frame


def read_drop(
    path: Path, dialect: CsvDialect = DEFAULT_DIALECT, chunk_size: int = 50_000
) -> Iterator[pd.DataFrame]:
    """A drop as text frames of at most ``chunk_size`` rows: the contract decides types."""
    rows = drop_rows(path, dialect)
    header = _header(rows, path)
    batch: list[DropRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk_size:
            yield _frame(header, batch)
            batch = []
    if batch:
        yield _frame(header, batch)


def split_row_problems(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows whose field count broke the header, as quarantine entries, and the other rows.

    Frames without ROW_PROBLEM (every source but drops) pass through unchanged.
    """
    if ROW_PROBLEM not in frame.columns:
        return frame, []
    problems = frame[ROW_PROBLEM]
    broken = problems.notna()
    clean = frame.loc[~broken].drop(columns=ROW_PROBLEM)
    entries = []
    for idx in broken[broken].index:
        problem = problems.at[idx]
        record = {k: v for k, v in frame.loc[idx].drop(ROW_PROBLEM).items() if v is not None}
        if problem["extra"]:
            record[EXTRA_FIELDS] = problem["extra"]
        reason = {"column": "*", "check": ROW_PROBLEM_CHECK, "value": problem["reason"]}
        entries.append({"record": record, "reasons": [reason]})
    return clean, entries


def reject_file(path: Path, reason: str) -> Path:
    """Move a malformed drop to ``rejected/`` beside it, with ``<name>.reason`` next to it."""
    rejected_dir = path.parent / REJECTED_DIR
    rejected_dir.mkdir(exist_ok=True)
    target = rejected_dir / path.name
    if target.exists():
        target = rejected_dir / f"{path.stem}.{path.stat().st_mtime_ns}{path.suffix}"
    os.replace(path, target)
    target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
    return target


class LandingDirectory(dg.ConfigurableResource):
    """The directory the CSV drops land in."""

    path: str

    def csv_chunks(
        self, relative: str, dialect: CsvDialect = DEFAULT_DIALECT, chunk_size: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Read a drop as text, in chunks, by the sensor's rules (``read_drop``).

        A malformed file moves to ``rejected/`` with its reason, as the sensor would move it,
        and the error says where it went; re-deliver a corrected file to load the day.
        """
        path = Path(self.path) / relative
        if not path.is_file():
            raise MissingDropError(f"drop file {path} has not arrived")
        try:
            yield from read_drop(path, dialect, chunk_size)
        except MalformedDropError as exc:
            target = reject_file(path, f"line {exc.line}: {exc.problem}")
            raise MalformedDropError(
                exc.path, exc.line, f"{exc.problem}; moved to {target}"
            ) from exc
