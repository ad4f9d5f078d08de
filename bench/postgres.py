"""PostgreSQL for the benchmarks' command-line contenders (psql)."""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url


def libpq_env(url: str) -> dict[str, str]:
    """psql's connection through PG* variables, so no password ever appears in argv."""
    parsed = make_url(url)
    env = {
        "PGHOST": parsed.host or "127.0.0.1",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
        "PGDATABASE": parsed.database or "postgres",
    }
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return {**os.environ, **env}
