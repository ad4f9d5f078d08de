"""The one place that applies owners and freshness policies to every asset, from contracts."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from platform_assets.contracts import contracts


def freshness_policy(table: str) -> dg.FreshnessPolicy:
    fresh = contracts()[table].freshness
    return dg.FreshnessPolicy.time_window(
        fail_window=fresh.fail_after, warn_window=fresh.warn_after
    )


def _apply(spec: dg.AssetSpec) -> dg.AssetSpec:
    contract = contracts()[spec.key.to_user_string()]
    return spec.replace_attributes(
        owners=[contract.owner], freshness_policy=freshness_policy(contract.table)
    )


def apply_policies(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    return list(dg.map_asset_specs(_apply, assets))
