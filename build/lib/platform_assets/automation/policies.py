"""The one place that turns a contract's owner and freshness into asset attributes.

Every asset factory (source tables, SQL transforms) passes these to ``@dg.asset``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.contracts import Contract


def freshness_policy(contract: Contract) -> dg.FreshnessPolicy:
    fresh = contract.freshness
    return dg.FreshnessPolicy.time_window(
        fail_window=fresh.fail_after, warn_window=fresh.warn_after
    )


def asset_policies(contract: Contract) -> dict[str, Any]:
    return {"owners": [contract.owner], "freshness_policy": freshness_policy(contract)}
