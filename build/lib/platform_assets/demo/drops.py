"""Daily CSV drops of marketing spend, as a partner would leave them in a shared directory.

Files appear atomically (temp file in the same directory + ``os.replace``), so a reader never
sees half a file, and rewriting an unchanged day leaves its file (and mtime) untouched.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import marketing_spend_for_day

TABLE = "marketing_spend"


def drop_path(directory: Path, day: dt.date) -> Path:
    """Where the drop for ``day`` lives: ``<dir>/marketing_spend/marketing_spend_<day>.csv``."""
    return Path(directory) / TABLE / f"{TABLE}_{day.isoformat()}.csv"


def drop_content(day: dt.date, cfg: DemoConfig) -> bytes:
    """The CSV bytes for one day (header + rows, ``\\n`` line endings, 2-decimal spend)."""
    frame = marketing_spend_for_day(day, cfg)
    return frame.to_csv(index=False, lineterminator="\n", float_format="%.2f").encode()


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), 0o644)  # mkstemp's 0600 would hide drops from other readers
            tmp.write(content)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_drops(
    directory: Path, cfg: DemoConfig, first_day: dt.date, last_day: dt.date
) -> list[Path]:
    """Write one CSV per day of ``first_day..last_day``; returns only the files (re)written."""
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    written: list[Path] = []
    for offset in range((last_day - first_day).days + 1):
        day = first_day + dt.timedelta(days=offset)
        path = drop_path(directory, day)
        content = drop_content(day, cfg)
        if path.is_file() and path.read_bytes() == content:
            continue
        _write_atomically(path, content)
        written.append(path)
    return written
