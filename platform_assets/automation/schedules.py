"""What starts runs unattended: the daily run of yesterday's partition, and the sensor that
lets staging and marts follow their upstreams (``policies.follow_upstreams``).

The schedule builds every asset for yesterday in one run. Anything that updates a source
partition outside that run (a drop sensor, the CLI, the UI, a re-execution) is followed by
the automation sensor, which requests the transforms reading it once the source's blocking
checks passed for that partition.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.automation.partitions import daily_partitions

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.all(),
    partitions_def=daily_partitions,
    description="Every asset for one day: sources, staging and marts, gated by checks.",
)

# 02:00 UTC: the schedule requests the latest complete partition, i.e. yesterday.
daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_job,
    hour_of_day=2,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

# Dagster creates a default automation sensor, but stopped: this one runs under the daemon
# (`make dev`, production) from the first start. Assets without a condition are skipped.
automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Staging and marts follow their upstream partitions once their gates passed.",
)
