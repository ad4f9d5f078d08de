"""File drops: CSV files that an external party writes into a landing directory.

One file per daily partition, where a ``DropPattern`` says (by default
``<table>/<table>_{date}.csv`` under the landing directory). Files whose name starts with a
dot are writes in progress (write to a temp name, then rename).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.sources.drop_csv import (
    DEFAULT_DIALECT,
    CsvDialect,
    MalformedDropError,
    inspect_drop,
    read_drop,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_DIALECT",
    "DROP_DIGEST_KEY",
    "DROP_FILE_KEY",
    "CsvDialect",
    "DropPattern",
    "LandingDirectory",
    "MalformedDropError",
    "MissingDropError",
    "drop_provenance",
    "file_digest",
    "inspect_drop",
    "reject_file",
]

DATE_PLACEHOLDER = "{date}"
REJECTED_DIR = "rejected"  # beside the drops; the sensor does not look inside
DROP_FILE_KEY = "drop_file"  # materialization metadata: the file a partition was loaded from
DROP_DIGEST_KEY = "drop_sha256"  # ... and its content, so a sensor can tell it was loaded


def file_digest(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes: the same content is the same drop, whatever its mtime."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def drop_provenance(path: Path) -> dict[str, str]:
    """What a load records about the file it read (taken before reading: a file replaced
    meanwhile then differs from the record, and the sensor loads it again)."""
    return {DROP_FILE_KEY: path.name, DROP_DIGEST_KEY: file_digest(path)}


class MissingDropError(FileNotFoundError):
    """The file for a partition has not arrived (yet)."""


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

    def provenance(self, relative: str) -> dict[str, str]:
        path = Path(self.path) / relative
        if not path.is_file():
            raise MissingDropError(f"drop file {path} has not arrived")
        return drop_provenance(path)

    def csv_chunks(
        self, relative: str, dialect: CsvDialect = DEFAULT_DIALECT, chunk_size: int = 50_000
    ) -> Iterator[pd.DataFrame]:
        """Read a drop as text, in chunks, by the sensor's rules (``drop_csv.read_drop``).

        A malformed file moves to ``rejected/`` with its reason, as the sensor would move it,
        and the error says where it went; re-deliver a corrected file to load the day.
        """
        path = Path(self.path) / relative
        if not path.is_file():
            raise MissingDropError(f"drop file {path} has not arrived")
        try:
            yield from read_drop(path, dialect, chunk_size)
        except MalformedDropError as exc:
            target = reject_file(path, exc.reason)
            raise MalformedDropError(
                exc.path, exc.line, f"{exc.problem}; moved to {target}"
            ) from exc
