"""Warehouse URLs: which backend, and the form each driver accepts."""

from __future__ import annotations

from pathlib import Path


def dialect_of(url: str) -> str:
    if url.startswith("duckdb:"):
        return "duckdb"
    if url.startswith(("postgresql:", "postgresql+", "postgres:")):
        return "postgres"
    raise ValueError(
        "PLATFORM_WAREHOUSE_URL must start with duckdb:/// or postgresql://; "
        f"got a URL with scheme {url.split(':', 1)[0]!r}"
    )


def duckdb_path(url: str) -> Path:
    """``duckdb:///relative/file.duckdb`` or ``duckdb:////absolute/file.duckdb``."""
    return Path(url.removeprefix("duckdb:///"))


def libpq_url(url: str) -> str:
    """psycopg wants ``postgresql://``; SQLAlchemy-style ``postgresql+driver://`` is accepted."""
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url
