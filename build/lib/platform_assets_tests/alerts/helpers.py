"""Small helpers shared by the alert tests."""

from __future__ import annotations

from typing import Any

import dagster as dg

from platform_assets.alerts.resource import Alerting
from platform_assets.alerts.sensors import alert_dispatch_sensor


def tick(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    alerting: Alerting,
    cursor: str | None = None,
    **resources: Any,
) -> Any:
    """One evaluation of a sensor, as the daemon would run it."""
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"alerting": alerting, **resources}
    )
    return sensor(context)


def dispatch(instance: dg.DagsterInstance, alerting: Alerting) -> Any:
    return tick(alert_dispatch_sensor, instance, alerting)


def materialize_now(
    instance: dg.DagsterInstance, asset: str, partition: str | None = None
) -> float:
    """Record a materialization (as a run would) and return its timestamp."""
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    assert event is not None
    return event.timestamp
