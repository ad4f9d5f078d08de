"""Database errors by kind: transient ones are worth a retry, permanent ones are not.

A PostgreSQL restart, a terminated backend, a serialization failure or a deadlock is gone a
moment later: the step's RetryPolicy retries it. A URL that names an unknown scheme, host,
database or role, or a refused password, fails every attempt the same way: the step fails
at once, naming the environment variable that holds the URL (never its value, which may
hold a password), instead of after a minute of retries.

One classifier serves every driver here: psycopg (warehouse statements), ADBC (warehouse
bulk loads) and SQLAlchemy (SQL sources). Errors raised by a server carry a SQLSTATE;
errors raised while connecting do not (libpq reports them as text only), so those are
recognised by libpq's wording.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from platform_assets.redaction import redact

Kind = Literal["transient", "permanent"]

# SQLSTATE -> why; class 08 (connection exception) is transient as a whole.
TRANSIENT_SQLSTATES = {
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "53300": "too many connections",
    "55P03": "lock not available",
    "57P01": "server terminated the connection (admin shutdown)",
    "57P02": "server crashed (crash shutdown)",
    "57P03": "server cannot accept connections now",
}
PERMANENT_SQLSTATES = {
    "28000": "authorization refused (unknown role or no pg_hba.conf entry)",
    "28P01": "authentication failed",
    "3D000": "unknown database",
}
# libpq's wording for connection failures that carry no SQLSTATE, checked in this order.
PERMANENT_MESSAGES = (
    ("password authentication failed", "authentication failed"),
    ("authentication failed", "authentication failed"),
    ("no password supplied", "authentication failed (no password supplied)"),
    ("no pg_hba.conf entry", "authorization refused (no pg_hba.conf entry)"),
    ('role "', "unknown role"),  # FATAL:  role "x" does not exist
    ('database "', "unknown database"),  # FATAL:  database "x" does not exist
    ("could not translate host name", "unknown host"),
    ("failed to resolve host", "unknown host"),
)
# Exception classes (by name, from any of the drivers) that mean a lost or refused connection.
CONNECTION_ERRORS = frozenset({"OperationalError", "InterfaceError"})


class UnsupportedUrlError(ValueError):
    """A database URL whose scheme no driver here reads."""


class InvalidSettingError(ValueError):
    """A setting from the environment that no retry can make work; names its variable."""


@dataclass(frozen=True)
class Fault:
    kind: Kind
    reason: str


class PermanentDatabaseError(Exception):
    """No retry can fix it: the URL in ``variable`` points at something that refuses us."""

    def __init__(self, variable: str, reason: str, detail: str) -> None:
        self.variable = variable
        self.reason = reason
        super().__init__(
            f"database connection failed permanently ({reason}); check the URL in {variable}. "
            f"Driver said: {detail}"
        )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (SQLAlchemy's ``orig``) and its causes, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__, current.__context__]


def _by_sqlstate(state: str) -> Fault | None:
    if state in PERMANENT_SQLSTATES:
        return Fault("permanent", f"{PERMANENT_SQLSTATES[state]}, SQLSTATE {state}")
    if state in TRANSIENT_SQLSTATES:
        return Fault("transient", f"{TRANSIENT_SQLSTATES[state]}, SQLSTATE {state}")
    if state.startswith("08"):
        return Fault("transient", f"connection exception, SQLSTATE {state}")
    return None


def _by_message(exc: BaseException) -> Fault | None:
    if type(exc).__name__ not in CONNECTION_ERRORS:
        return None
    text = str(exc)
    for needle, reason in PERMANENT_MESSAGES:
        if needle in text:
            return Fault("permanent", reason)
    return Fault("transient", "connection lost or refused")


def _by_class(exc: BaseException) -> Fault | None:
    if isinstance(exc, UnsupportedUrlError):
        return Fault("permanent", "unknown URL scheme")
    name = type(exc).__name__
    if name == "IOException" and "Could not set lock on file" in str(exc):
        # DuckDB admits one writing process: another one (the event consumer, a second
        # launcher) holds the file for a moment. Waiting is the cure.
        return Fault("transient", "DuckDB file locked by another process")
    if name == "NoSuchModuleError":  # SQLAlchemy: no dialect for the URL's scheme
        return Fault("permanent", "unknown URL scheme")
    if name == "ArgumentError" and "URL" in str(exc):  # SQLAlchemy: not a URL at all
        return Fault("permanent", "malformed URL")
    return None


def classify(exc: BaseException) -> Fault | None:
    """Transient, permanent, or None (not a database fault this module knows)."""
    chain = list(_chain(exc))
    for error in chain:
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (fault := _by_sqlstate(state)):
            return fault
    for error in chain:
        if fault := _by_class(error) or _by_message(error):
            return fault
    return None


@contextmanager
def database_faults(variable: str, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Raise permanent faults of the database behind ``variable`` as PermanentDatabaseError.

    ``secrets`` (the URL, its password) are removed from the driver's message, which names
    host, database and role but should never carry them; transient and unknown errors pass
    unchanged, and so does a PermanentDatabaseError of another connection used inside.
    """
    try:
        yield
    except PermanentDatabaseError:
        raise
    except Exception as exc:
        fault = classify(exc)
        if fault is None or fault.kind != "permanent":
            raise
        detail = redact(" ".join(str(exc).split()), secrets)
        raise PermanentDatabaseError(variable, fault.reason, detail) from exc


def url_password(url: str) -> str | None:
    """The password in a database URL, to redact it from messages."""
    try:
        return urlsplit(url).password
    except ValueError:
        return None
