"""Opening the Dagster instance while another process creates its PostgreSQL storage.

The first open of a fresh PostgreSQL instance creates its tables. dagster-postgres retries
when a concurrent creator wins with DuplicateTable (42P07), but PostgreSQL may report the
same collision as DuplicateObject (42710, ``type "runs" already exists``), and the open
fails: 2 of 25 trials of two processes opening one fresh database at once (dagster 1.13).
The winner creates each storage's tables in one transaction, so opening again finds them.
"""

from __future__ import annotations

import time

import dagster as dg
import sqlalchemy as sa

DUPLICATE_OBJECT = "42710"
ATTEMPTS = 5


def _lost_creation_race(exc: sa.exc.ProgrammingError) -> bool:
    code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)  # psycopg2, 3
    return code == DUPLICATE_OBJECT


def _open(home: str | None) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(home) if home else dg.DagsterInstance.get()


def open_instance(home: str | None = None) -> dg.DagsterInstance:
    """The instance of ``home`` (default: ``$DAGSTER_HOME``), opened again when a concurrent
    first open created its storage under our feet."""
    for attempt in range(1, ATTEMPTS):
        try:
            return _open(home)
        except sa.exc.ProgrammingError as exc:
            if not _lost_creation_race(exc):
                raise
            time.sleep(0.2 * attempt)
    return _open(home)
