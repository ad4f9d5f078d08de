"""Jobs and schedules: the daily run of yesterday's partition, unattended."""

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
