"""The one place that turns a contract into the asset attributes every table shares: its
owner, its freshness policy and, for staging and marts, how it follows its upstreams.

Every asset factory (source tables, SQL transforms) passes these to ``@dg.asset``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg

from platform_assets.contracts import Contract

FOLLOW_DAYS = 8
"""How many of the latest daily partitions a transform follows on its own: the drop
sensor's default look-back (7 days) plus the latest day, so a late file flows downstream.
Older partitions are backfilled on purpose, as the drop sensor leaves them."""


def freshness_policy(contract: Contract) -> dg.FreshnessPolicy:
    fresh = contract.freshness
    return dg.FreshnessPolicy.time_window(
        fail_window=fresh.fail_after, warn_window=fresh.warn_after
    )


def follow_upstreams() -> dg.AutomationCondition:
    """Dagster's ``eager()`` over the latest ``FOLLOW_DAYS`` partitions (eager alone looks at
    the latest one only), gated by the upstream blocking checks.

    A partition is requested when an upstream partition it reads was updated by another run
    (a drop, the CLI, a re-execution; not by a run that builds it too, such as the daily job)
    or when it newly goes missing; never while an upstream is missing or in progress, and
    never when a blocking check of an upstream failed for that partition.
    """
    AC = dg.AutomationCondition
    return (
        AC.in_latest_time_window(timedelta(days=FOLLOW_DAYS))
        & (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
        & ~AC.any_deps_missing()
        & ~AC.any_deps_in_progress()
        & ~AC.in_progress()
        & AC.all_deps_blocking_checks_passed()
    ).with_label("follow_upstreams")


def automation_condition(contract: Contract) -> dg.AutomationCondition | None:
    """Sources are loaded by the daily schedule and the drop sensors; transforms follow."""
    return None if contract.layer == "raw" else follow_upstreams()


def asset_policies(contract: Contract) -> dict[str, Any]:
    return {
        "owners": [contract.owner],
        "freshness_policy": freshness_policy(contract),
        "automation_condition": automation_condition(contract),
    }
