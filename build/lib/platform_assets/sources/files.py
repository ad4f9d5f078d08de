"""File drops: CSV files that an external party writes into a landing directory.

One file per daily partition, where a ``DropPattern`` says (by default
``<table>/<table>_{date}.csv`` under the landing directory). Files whose name starts with a
dot are writes in progress (write to a temp name, then rename).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

import dagster as dg
import pandas as pd

DATE_PLACEHOLDER = "{date}"


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


def inspect_drop(
    path: Path, columns: Sequence[str], dialect: CsvDialect = DEFAULT_DIALECT
) -> str | None:
    """Why a drop file is malformed (None: it is well-formed), streaming through it once.

    Structure only: UTF-8 text, a header with exactly the contract's columns, and the same
    number of fields on every row. Values are the contract's business (quarantine per row).
    """
    try:
        with path.open(newline="", encoding=dialect.encoding) as handle:
            reader = csv.reader(
                handle, strict=True, delimiter=dialect.delimiter, quotechar=dialect.quotechar
            )
            header = next(reader, None)
            if header is None:
                return "empty file: no header"
            if sorted(header) != sorted(columns) or len(set(header)) != len(header):
                return f"bad header {header[:20]}; expected the columns {list(columns)}"
            for row in reader:
                if len(row) != len(header):
                    return (
                        f"line {reader.line_num}: {len(row)} fields, the header has {len(header)}"
                    )
    except UnicodeDecodeError as exc:
        return f"not {dialect.encoding.upper()} text: {exc.reason} at byte {exc.start}"
    except csv.Error as exc:
        return f"unparseable CSV: {exc}"
    return None


class LandingDirectory(dg.ConfigurableResource):
    """The directory the CSV drops land in."""

    path: str

    def csv_chunks(
        self, relative: str, dialect: CsvDialect = DEFAULT_DIALECT, chunk_size: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Read a drop as text, in chunks: the contract decides the types, not pandas."""
        path = Path(self.path) / relative
        if not path.is_file():
            raise MissingDropError(f"drop file {path} has not arrived")
        with pd.read_csv(
            path, dtype=str, chunksize=chunk_size, keep_default_na=False, na_values=[""],
            sep=dialect.delimiter, quotechar=dialect.quotechar, encoding=dialect.encoding,
        ) as reader:  # fmt: skip
            for chunk in reader:
                yield chunk.astype(object)
