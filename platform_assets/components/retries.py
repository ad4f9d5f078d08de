"""Retries by kind, for every step (sources and SQL transforms alike).

Every step carries ``RETRY_POLICY``: a transient fault (a restarted database, a terminated
connection, a deadlock, an API that timed out) is retried with backoff. A permanent database
fault (unknown URL scheme, host, database or role; failed authentication) fails the step
at once with ``allow_retries=False``, naming the variable that holds the URL: retrying
it only delays the alert. ``platform_assets.warehouse.faults`` tells the kinds apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from platform_assets.warehouse.faults import PermanentDatabaseError, classify

RETRY_POLICY = dg.RetryPolicy(
    max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


@contextmanager
def database_faults_by_kind(context: dg.AssetExecutionContext) -> Iterator[None]:
    """Permanent database faults fail the step without retries; transient ones are said
    to be transient in the log and left to the step's RetryPolicy."""
    try:
        yield
    except PermanentDatabaseError as exc:
        raise dg.Failure(
            description=str(exc),
            metadata={"url_variable": exc.variable, "fault": exc.reason},
            allow_retries=False,
        ) from exc
    except Exception as exc:
        fault = classify(exc)
        if fault is not None and fault.kind == "transient":
            context.log.warning(
                f"transient database fault ({fault.reason}): left to the step's retry policy"
            )
        raise
