"""The one parser of CSV drops: the sensor judges files with it, runs extract with it.

One set of rules, so a file the sensor accepts loads and one it rejects fails a run the
same way. Structure is judged here, values are the contract's business:

* the file is text in the dialect's encoding; a UTF-8 byte-order mark (what spreadsheet
  exports write) is accepted; undecodable bytes make the whole file malformed;
* quoting follows the dialect strictly; an unterminated quote makes the file malformed;
* the first record is a header of distinct, non-empty names; an empty file is malformed;
* a record with fewer or more fields than the header is one bad row, not a bad file: it
  is extracted with ``ROW_PROBLEM`` set, and the run quarantines it naming line and counts;
* blank lines are no records.

A malformed file raises ``MalformedDropError`` naming file, line and problem. The file is
read as a stream in chunks of rows: memory is bounded by the chunk, not the file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


# Extracted frames of a drop carry this column: None, or why the row's shape is wrong.
ROW_PROBLEM = "_platform_row_problem"
ROW_PROBLEM_CHECK = "field_count"
EXTRA_FIELDS = "_extra_fields"  # the quarantined record's fields beyond the header's


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str = ","
    quotechar: str = '"'
    encoding: str = "utf-8"


DEFAULT_DIALECT = CsvDialect()


class MalformedDropError(ValueError):
    """A drop file whose structure cannot be trusted: undecodable text, broken quoting, no
    or a broken header. Permanent: the same bytes fail the same way on every retry."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"drop file {path}: line {line}: {problem}")
        self.path, self.line, self.problem = path, line, problem

    @property
    def reason(self) -> str:
        """The problem with its line, without the path (the file's name is beside it)."""
        return f"line {self.line}: {self.problem}"


def _text_encoding(encoding: str) -> str:
    """UTF-8 is read as utf-8-sig: a leading byte-order mark is dropped, not data."""
    return "utf-8-sig" if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig") else encoding


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> MalformedDropError:
    """Where the first undecodable byte is: found again line by line (only on error)."""
    decoder = codecs.getincrementaldecoder(_text_encoding(encoding))()
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as found:
                problem = (
                    f"not {encoding.upper()} text: {found.reason} at byte {offset + found.start}"
                )
                return MalformedDropError(path, number, problem)
            offset += len(raw)
    return MalformedDropError(path, 1, f"not {encoding.upper()} text: {exc.reason}")


def _csv_problem(exc: csv.Error, end: int) -> str:
    if "unexpected end of data" in str(exc):
        return f"unterminated quoted field: the record runs to the end of the file (line {end})"
    return f"unparseable CSV: {exc}"


def _header(reader: Any, path: Path) -> list[str]:
    for header in reader:
        if not header:
            continue  # a blank line
        duplicated = sorted({name for name in header if header.count(name) > 1})
        if duplicated or "" in header:
            problem = f"duplicated columns {duplicated}" if duplicated else "an unnamed column"
            raise MalformedDropError(path, reader.line_num, f"bad header {header[:20]}: {problem}")
        return header
    raise MalformedDropError(path, max(reader.line_num, 1), "empty file: no header")


@dataclass
class Batch:
    """Up to ``size`` records; ``odd`` maps a record's index to the line it starts on,
    for records whose field count differs from the header's."""

    header: list[str]
    rows: list[list[str]]
    odd: dict[int, int]


def drop_batches(path: Path, dialect: CsvDialect, size: int) -> Iterator[Batch]:
    """The file's records after its header, in batches (at least one, maybe empty);
    raises MalformedDropError."""
    with path.open(encoding=_text_encoding(dialect.encoding), newline="") as handle:
        reader = csv.reader(
            handle, strict=True, delimiter=dialect.delimiter, quotechar=dialect.quotechar
        )
        end = 0
        try:
            header = _header(reader, path)
            width, rows, odd, end, sent = len(header), [], {}, reader.line_num, False
            for fields in reader:
                if len(fields) != width:
                    if not fields:  # a blank line
                        end = reader.line_num
                        continue
                    odd[len(rows)] = end + 1
                rows.append(fields)
                end = reader.line_num
                if len(rows) >= size:
                    yield Batch(header, rows, odd)
                    rows, odd, sent = [], {}, True
            if rows or not sent:  # a header-only file is one empty batch: its columns count
                yield Batch(header, rows, odd)
        except csv.Error as exc:
            raise MalformedDropError(path, end + 1, _csv_problem(exc, reader.line_num)) from exc
        except UnicodeDecodeError as exc:
            raise _decode_error(path, dialect.encoding, exc) from exc


def inspect_drop(
    path: Path, columns: Sequence[str], dialect: CsvDialect = DEFAULT_DIALECT
) -> str | None:
    """Why a drop file is malformed (None: it is well-formed), streaming through it once.

    The rules every run applies, plus the sensor's own: the header holds exactly the
    contract's columns. Rows of the wrong width reject no file: a run quarantines them.
    """
    try:
        for batch in drop_batches(path, dialect, 50_000):
            if sorted(batch.header) != sorted(columns):
                return f"bad header {batch.header[:20]}; expected the columns {list(columns)}"
    except MalformedDropError as exc:
        return exc.reason
    return None


def _frame(batch: Batch) -> pd.DataFrame:
    """Records as text (empty fields are None) plus ROW_PROBLEM for rows of the wrong width."""
    import pandas as pd  # here, not at module level: the drop sensor imports this module

    width, rows = len(batch.header), batch.rows
    problems: list[dict[str, Any] | None] = [None] * len(rows)
    for index, line in batch.odd.items():
        fields = rows[index]
        problems[index] = {
            "reason": f"line {line}: {len(fields)} fields, the header has {width}",
            "extra": fields[width:],
        }
        rows[index] = fields[:width] + [""] * (width - len(fields))
    frame = pd.DataFrame(rows, columns=batch.header, dtype=object)
    frame = frame.where(frame != "", None)
    frame[ROW_PROBLEM] = pd.Series(problems, dtype=object, index=frame.index)
    return frame


def read_drop(
    path: Path, dialect: CsvDialect = DEFAULT_DIALECT, chunk_size: int = 50_000
) -> Iterator[pd.DataFrame]:
    """A drop as text frames of at most ``chunk_size`` rows: the contract decides types."""
    for batch in drop_batches(path, dialect, chunk_size):
        yield _frame(batch)


def split_row_problems(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Rows whose field count broke the header (or, for events, whose body is no JSON
    object), as quarantine entries, and the other rows.

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
        check = problem.get("check", ROW_PROBLEM_CHECK)  # e.g. an event body that is no object
        reason = {"column": "*", "check": check, "value": problem["reason"]}
        entries.append({"record": record, "reasons": [reason]})
    return clean, entries
