"""The instance's pool limits, set up before the runs that claim them, race-free.

Dagster creates a pool's limit row (``concurrency_limits``) when a step first claims the
pool. Two runs doing so at once on a fresh PostgreSQL instance both insert it; the second
gets a unique violation (``concurrency_limits_concurrency_key_key``) and, its transaction
aborted, fails the run (dagster 1.13). The platform creates the rows first; when another
process wins that race, the violation is caught and the row re-read.
"""

from __future__ import annotations

import dagster as dg
import sqlalchemy as sa


def job_pools(job: dg.JobDefinition) -> set[str]:
    """The pools the job's steps claim."""
    return {node.definition.pool for node in job.graph.nodes if node.definition.pool}


def _needs_default(instance: dg.DagsterInstance, pool: str) -> bool:
    """What Dagster checks before it sets a pool to the instance's default limit."""
    default = instance.global_op_concurrency_default_limit
    limits = {p.name: p for p in instance.event_log_storage.get_pool_limits()}
    current = limits.get(pool)
    if current is None:
        return default is not None
    return current.from_default and current.limit != default


def ensure_pool_limits(instance: dg.DagsterInstance, pools: set[str]) -> None:
    """Give every pool the instance's default limit now, not in the first runs' steps."""
    storage = instance.event_log_storage
    for pool in sorted(pools):
        if not _needs_default(instance, pool):
            continue
        try:
            storage.initialize_concurrency_limit_to_default(pool)
        except (sa.exc.IntegrityError, sa.exc.InternalError) as exc:
            # Another process created the row first (its transaction aborted ours): re-read.
            if _needs_default(instance, pool):
                raise RuntimeError(
                    f"pool {pool!r}: setting the instance's default limit collided with "
                    "another process and the limit is still unset"
                ) from exc
