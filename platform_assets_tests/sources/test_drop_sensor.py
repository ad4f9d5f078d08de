"""The landing-directory sensor, evaluated with build_sensor_context on real files."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.automation.drop_sensor import (
    REJECTED_EVENT,
    DropCursor,
    build_drop_sensor,
)
from platform_assets.automation.partitions import daily_partitions
from platform_assets.contracts import contracts
from platform_assets.definitions import build_definitions
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.drops import drop_content, drop_path
from platform_assets.sources.files import LandingDirectory
from platform_assets.warehouse.resource import Warehouse

# Recent enough to be inside the sensor's look-back, with two more partitions after it.
DAY = dt.date.fromisoformat(daily_partitions.get_last_partition_key()) - dt.timedelta(days=3)
D0, D1, D2 = (str(DAY + dt.timedelta(days=n)) for n in range(3))
CFG = DemoConfig(seed=3)
AN_HOUR_AGO = time.time() - 3600


@pytest.fixture(scope="module")
def instance() -> Iterator[dg.DagsterInstance]:
    """Shared by the module (creating one costs a second); tests tell their events apart by
    their own landing directory."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


class Sensor:
    """Ticks the registered sensor, carrying its cursor from tick to tick like the daemon."""

    def __init__(
        self,
        landing: Path,
        instance: dg.DagsterInstance,
        definition: dg.SensorDefinition | None = None,
    ) -> None:
        self.landing = landing
        self.instance = instance
        self.definition = definition or build_drop_sensor(
            contracts()["marketing_spend"], "agency_drops"
        )
        self.cursor: str | None = None

    def tick(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            cursor=self.cursor,
            instance=self.instance,
            resources={"agency_drops": LandingDirectory(path=str(self.landing))},
        )
        result = self.definition(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        return result

    def partitions(self) -> list[str | None]:
        return [r.partition_key for r in self.tick().run_requests]


@pytest.fixture
def sensor(tmp_path: Path, instance: dg.DagsterInstance) -> Sensor:
    return Sensor(tmp_path / "landing", instance)


def drop(sensor: Sensor, day: dt.date = DAY, content: bytes | None = None,
         name: str | None = None, age_s: float = 3600) -> Path:  # fmt: skip
    path = drop_path(sensor.landing, day)
    path = path.with_name(name) if name else path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(drop_content(day, CFG) if content is None else content)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def rejections(sensor: Sensor) -> list[dict]:
    records = sensor.instance.fetch_observations(dg.AssetKey("marketing_spend"), limit=100)
    out = []
    for record in records.records:
        metadata = record.asset_observation.metadata
        assert metadata["platform/event"].value == REJECTED_EVENT
        event = {k: v.value for k, v in metadata.items()}
        if event["rejected_path"].startswith(str(sensor.landing)):
            out.append(event)
    return out


def test_a_new_file_loads_its_partition_once(sensor: Sensor) -> None:
    path = drop(sensor)
    assert sensor.partitions() == []  # first sight: wait for a second look
    [request] = sensor.tick().run_requests
    assert request.partition_key == D0
    assert request.job_name == "marketing_spend_drop_job"  # a named job, listed in the UI
    assert request.tags["platform/drop_file"] == path.name
    stat = path.stat()
    assert DropCursor.parse(sensor.cursor).processed == {
        path.name: (stat.st_size, stat.st_mtime_ns)
    }
    assert sensor.partitions() == [] and sensor.partitions() == []  # never twice


def test_a_corrected_redelivery_loads_again(sensor: Sensor) -> None:
    path = drop(sensor)
    sensor.tick(), sensor.tick()
    fixed = drop_content(DAY, CFG).replace(b"\n", b"\r\n")
    drop(sensor, content=fixed, age_s=600)
    assert sensor.partitions() == []
    assert sensor.partitions() == [D0]
    assert path.exists()


def test_a_file_still_being_written_waits(sensor: Sensor) -> None:
    content = drop_content(DAY, CFG)
    path = drop(sensor, content=content[:20], age_s=0)
    assert sensor.partitions() == []
    with path.open("ab") as handle:  # the writer is still at it
        handle.write(content[20:])
    assert sensor.partitions() == []  # changed since the last tick
    assert sensor.partitions() == []  # unchanged, but younger than the minimum age
    os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    assert sensor.partitions() == []  # the mtime moved: one more look
    assert sensor.partitions() == [D0]
    assert rejections(sensor) == []


def test_hidden_temp_files_and_future_days_wait(sensor: Sensor) -> None:
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    drop(sensor, name=".marketing_spend_2026-03-10.csv.x1y2.tmp")
    drop(sensor, day=tomorrow)
    for _ in range(3):
        assert sensor.partitions() == []
    assert DropCursor.parse(sensor.cursor).pending.keys() == {f"marketing_spend_{tomorrow}.csv"}
    assert not (sensor.landing / "marketing_spend" / "rejected").exists()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        (None, b"day,channel,spend\n2026-03-10,search,1\n", "bad header ['day', 'channel'"),
        (None, b"", "empty file: no header"),
        (
            None,
            b'date,channel,spend_usd,impressions,clicks\n2026-03-10,"search,1.0,10,1\n',
            "line 2: unterminated quoted field",
        ),
        (None, b"date,channel,spend_usd,impressions,clicks\n\xff\xfe,,,,\n", "not UTF-8 text"),
        ("marketing_spend_2026-02-30.csv", None, "does not match marketing_spend_YYYY-MM-DD"),
        ("spend.csv", None, "does not match"),
        ("marketing_spend_2025-12-31.csv", None, "before the first partition 2026-01-01"),
    ],
)
def test_a_malformed_file_is_rejected_with_its_reason(
    sensor: Sensor, name: str | None, content: bytes | None, reason: str
) -> None:
    path = drop(sensor, content=content, name=name)
    assert sensor.partitions() == []
    assert sensor.partitions() == []
    rejected = path.parent / "rejected" / path.name
    assert not path.exists() and rejected.exists()
    assert reason in rejected.with_name(rejected.name + ".reason").read_text()
    [event] = rejections(sensor)
    assert event["file"] == path.name and reason in event["reason"]
    assert event["rejected_path"] == str(rejected)
    assert DropCursor.parse(sensor.cursor) == DropCursor()  # nothing left to look at
    assert sensor.partitions() == []


def test_a_file_with_a_bom_loads(sensor: Sensor) -> None:
    """Spreadsheet exports start with a UTF-8 BOM; a run reads such a file, so it loads."""
    drop(sensor, content=b"\xef\xbb\xbf" + drop_content(DAY, CFG))
    assert sensor.partitions() == []
    assert sensor.partitions() == [D0]
    assert rejections(sensor) == []


def test_rows_of_the_wrong_width_are_left_to_the_run_to_quarantine(sensor: Sensor) -> None:
    content = drop_content(DAY, CFG) + b"2026-03-10,search,1.0,10\n2026-03-10,x,1,2,3,4\n"
    drop(sensor, content=content)
    assert sensor.partitions() == []
    assert sensor.partitions() == [D0]
    assert rejections(sensor) == []


def test_good_and_bad_files_in_one_tick(sensor: Sensor) -> None:
    drop(sensor, day=DAY)
    drop(sensor, day=DAY + dt.timedelta(days=1))
    drop(sensor, day=DAY + dt.timedelta(days=2), content=b"nonsense\n")
    assert sensor.partitions() == []
    assert sorted(sensor.partitions()) == [D0, D1]
    assert [e["file"] for e in rejections(sensor)] == [f"marketing_spend_{D2}.csv"]
    assert sensor.partitions() == []


def test_a_full_tick_leaves_the_rest_for_the_next(sensor: Sensor) -> None:
    small = Sensor(
        sensor.landing,
        sensor.instance,
        build_drop_sensor(
            contracts()["marketing_spend"], "agency_drops", min_age_s=5.0, max_runs_per_tick=2
        ),
    )
    for offset in range(3):
        drop(small, day=DAY + dt.timedelta(days=offset))
    assert small.partitions() == []
    assert small.partitions() == [D0, D1]
    assert small.partitions() == [D2]
    assert small.partitions() == []


def test_files_older_than_the_look_back_are_seen_but_not_loaded(sensor: Sensor) -> None:
    """History in the landing directory (a first start) must not flood the instance."""
    old = DAY - dt.timedelta(days=30)
    drop(sensor, day=old)
    drop(sensor, day=DAY)
    assert sensor.partitions() == []  # first sight: wait for the files to settle
    assert sensor.partitions() == [D0]  # the old day is recorded, not requested
    assert f"marketing_spend_{old}.csv" in DropCursor.parse(sensor.cursor).processed
    assert sensor.partitions() == []


def test_the_sensor_targets_its_named_job_on_the_real_definitions() -> None:
    defs = build_definitions()
    sensor = defs.resolve_sensor_def("marketing_spend_drop_sensor")
    assert sensor.job_name == "marketing_spend_drop_job"
    job = defs.resolve_job_def("marketing_spend_drop_job")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("marketing_spend")}
    assert job.partitions_def == daily_partitions


def test_a_day_already_loaded_from_the_same_content_is_not_loaded_again(tmp_path: Path) -> None:
    """A restart with a fresh cursor (or a day the daily job or the CLI loaded, or a file
    rewritten unchanged) launches nothing; a corrected file still loads."""
    landing = tmp_path / "landing"
    with dg.DagsterInstance.ephemeral() as instance:
        path = drop(Sensor(landing, instance))
        loaded = dg.materialize(  # the real asset, as the daily job loads the day
            [build_definitions().get_assets_def("marketing_spend")],
            instance=instance,
            partition_key=D0,
            resources={
                "warehouse": Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}"),
                "agency_drops": LandingDirectory(path=str(landing)),
            },
        )
        [materialization] = loaded.asset_materializations_for_node("marketing_spend")
        assert materialization.metadata["drop_file"].value == path.name

        restarted = Sensor(landing, instance)  # no cursor: a new sensor, a lost cursor
        assert restarted.partitions() == []
        result = restarted.tick()
        assert result.run_requests == []
        assert result.skip_reason is not None
        assert result.skip_reason.skip_message.endswith("1 already loaded with the same content")
        stat = path.stat()
        assert DropCursor.parse(restarted.cursor).processed == {
            path.name: (stat.st_size, stat.st_mtime_ns)
        }

        drop(restarted, age_s=1800)  # rewritten with the same bytes: a new mtime
        assert restarted.partitions() == [] and restarted.partitions() == []

        fixed = drop_content(DAY, CFG).replace(b"\n", b"\r\n")  # a corrected delivery
        drop(restarted, content=fixed, age_s=600)
        assert restarted.partitions() == []
        assert restarted.partitions() == [D0]
