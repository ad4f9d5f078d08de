"""The code location: every asset, check, job, schedule and resource."""

from __future__ import annotations

import dagster as dg

from platform_assets.alerts.resource import alerting_from_env
from platform_assets.alerts.sensors import alert_sensors
from platform_assets.assets.raw import raw_assets
from platform_assets.assets.transform import transform_assets
from platform_assets.automation.drop_sensor import marketing_spend_drop_sensor
from platform_assets.automation.executors import build_executor
from platform_assets.automation.policies import apply_policies
from platform_assets.automation.schedules import daily_job, daily_schedule
from platform_assets.observability.logging import pipeline_loggers
from platform_assets.observability.openlineage import openlineage_from_env, openlineage_sensor
from platform_assets.resources import build_resources


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=apply_policies([*raw_assets(), *transform_assets()]),
        jobs=[daily_job],
        schedules=[daily_schedule],
        sensors=[marketing_spend_drop_sensor, *alert_sensors(), openlineage_sensor],
        resources={
            **build_resources(),
            "alerting": alerting_from_env(),
            "openlineage": openlineage_from_env(),
        },
        loggers=pipeline_loggers(),  # run config "loggers: {json: {}}": Dagster lines as JSON
        executor=build_executor(),  # PLATFORM_EXECUTOR: multiprocess | in_process | celery
    )


defs = build_definitions()
