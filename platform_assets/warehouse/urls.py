"""Warehouse URLs: which backend, and the form each driver accepts."""

from __future__ import annotations

import re
from pathlib import Path

from platform_assets.warehouse.faults import UnsupportedUrlError

SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")  # RFC 3986: a scheme is never a secret


def dialect_of(url: str) -> str:
    if url.startswith("duckdb:"):
        return "duckdb"
    if url.startswith(("postgresql:", "postgresql+", "postgres:")):
        return "postgres"
    scheme, sep, _ = url.partition("://")
    got = f"a URL with scheme {scheme!r}" if sep and SCHEME.fullmatch(scheme) else "no URL"
    raise UnsupportedUrlError(  # the value itself may be a secret: never shown
        f"PLATFORM_WAREHOUSE_URL must start with duckdb:/// or postgresql://; got {got}"
    )


def duckdb_path(url: str) -> Path:
    """``duckdb:///relative/file.duckdb`` or ``duckdb:////absolute/file.duckdb``."""
    return Path(url.removeprefix("duckdb:///"))


def libpq_url(url: str) -> str:
    """psycopg wants ``postgresql://``; SQLAlchemy-style ``postgresql+driver://`` is accepted."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url
