"""File drops: CSV files that an external party writes into a landing directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd


class MissingDropError(FileNotFoundError):
    """The file for a partition has not arrived (yet)."""


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
