"""File drops: CSV files that an external party writes into a landing directory.

Convention: ``<landing>/<table>/<table>_<YYYY-MM-DD>.csv``, one file per daily partition.
Files whose name starts with a dot are writes in progress (write to a temp name, then rename).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd

_DROP_NAME = re.compile(r"^(?P<table>.+)_(?P<day>\d{4}-\d{2}-\d{2})\.csv$")


class MissingDropError(FileNotFoundError):
    """The file for a partition has not arrived (yet)."""


def drop_relative_path(table: str, day: date) -> str:
    return f"{table}/{table}_{day.isoformat()}.csv"


def drop_day(table: str, file_name: str) -> date | None:
    """The partition day a drop file is for; None when the name breaks the convention."""
    match = _DROP_NAME.match(file_name)
    if match is None or match["table"] != table:
        return None
    try:
        return date.fromisoformat(match["day"])
    except ValueError:
        return None


def inspect_drop(path: Path, columns: Sequence[str]) -> str | None:
    """Why a drop file is malformed (None: it is well-formed), streaming through it once.

    Structure only: UTF-8 text, a header with exactly the contract's columns, and the same
    number of fields on every row. Values are the contract's business (quarantine per row).
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle, strict=True)
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
        return f"not UTF-8 text: {exc.reason} at byte {exc.start}"
    except csv.Error as exc:
        return f"unparseable CSV: {exc}"
    return None


class LandingDirectory(dg.ConfigurableResource):
    """The directory the CSV drops land in."""

    path: str

    def csv_chunks(self, relative: str, chunk_size: int = 50_000) -> Iterator[pd.DataFrame]:
        """Read a drop as text, in chunks: the contract decides the types, not pandas."""
        path = Path(self.path) / relative
        if not path.is_file():
            raise MissingDropError(f"drop file {path} has not arrived")
        with pd.read_csv(path, dtype=str, chunksize=chunk_size, keep_default_na=False,
                         na_values=[""]) as reader:  # fmt: skip
            for chunk in reader:
                yield chunk.astype(object)
