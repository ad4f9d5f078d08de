"""Lineage: column lineage from the contracts, OpenLineage events over file and HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import contracts
from platform_assets.contracts.loader import ContractError, parse_contract
from platform_assets.observability.lineage import column_lineage
from platform_assets.observability.openlineage import (
    LineageEmitError,
    OpenLineage,
    openlineage_sensor,
)
from platform_assets.warehouse.resource import Warehouse
from platform_assets_tests.alerts.receivers import HttpReceiver, free_port
from platform_assets_tests.observability.stand_ins import mart, raw_orders, run


@pytest.fixture
def instance():
    with dg.DagsterInstance.ephemeral() as test_instance:
        yield test_instance


def lineage_tick(instance, openlineage: OpenLineage, assets, cursor: str | None = None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=dg.Definitions(assets=assets),
        resources={
            "openlineage": openlineage,
            "warehouse": Warehouse(url="postgresql://etl:wh-secret-3a@db.internal:5433/analytics"),
        },
    )
    return openlineage_sensor(context)


def test_every_mart_column_has_declared_lineage() -> None:
    for table in ("daily_revenue_by_country", "marketing_roas", "customer_lifetime_value"):
        lineage = column_lineage(contracts()[table])
        assert lineage is not None
        assert set(lineage.deps_by_column) == set(contracts()[table].column_names)
    assert column_lineage(contracts()["orders"]) is None


def test_lineage_naming_an_unknown_column_stops_the_contracts_loading(tmp_path: Path) -> None:
    bad = {
        "table": "t",
        "layer": "marts",
        "description": "d",
        "owner": "team:x",
        "primary_key": ["a"],
        "freshness": {"warn_after": "1h", "fail_after": "2h"},
        "columns": [{"name": "a", "type": "int64", "description": "a", "lineage": ["nope"]}],
    }
    with pytest.raises(ContractError, match=r"columns\[0\] \(a\)\.lineage: must be a list"):
        parse_contract(bad, "t.yaml")


def test_file_events_start_then_complete_or_fail_per_asset(instance, tmp_path: Path) -> None:
    assets = [raw_orders(), mart(fails=True)]
    run(instance, assets)
    target = tmp_path / "ol" / "events.jsonl"
    result = lineage_tick(instance, OpenLineage(file=str(target)), assets)
    assert result.skip_reason.skip_message == "4 event(s) emitted for 1 run(s)"
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("orders", "START"),
        ("orders", "COMPLETE"),
        ("daily_revenue_by_country", "START"),
        ("daily_revenue_by_country", "FAIL"),
    ]
    failed = events[3]
    assert failed["run"]["facets"]["errorMessage"]["message"] == (
        "RuntimeError: division by zero in booked_revenue_usd"
    )
    assert [i["name"] for i in failed["inputs"]] == ["analytics.raw.orders"]
    # The warehouse namespace carries host and port, never the credentials.
    assert {e["outputs"][0]["namespace"] for e in events} == {"postgres://db.internal:5433"}
    assert "wh-secret-3a" not in target.read_text()
    assert events[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 240
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"] != events[2]["run"]["runId"]

    again = lineage_tick(instance, OpenLineage(file=str(target)), assets, result.cursor)
    assert again.skip_reason.skip_message == "0 event(s) emitted for 0 run(s)"


def test_http_transport_posts_with_the_api_key_and_a_down_backend_fails_the_tick(
    instance,
) -> None:
    assets = [raw_orders()]
    run(instance, assets)
    backend = HttpReceiver().start()
    try:
        result = lineage_tick(instance, OpenLineage(url=backend.url, api_key="ol-key-5b1"), assets)
    finally:
        backend.stop()
    assert result.skip_reason.skip_message == "2 event(s) emitted for 1 run(s)"
    posts = backend.posts("/api/v1/lineage")
    assert [p.json()["eventType"] for p in posts] == ["START", "COMPLETE"]
    assert posts[0].headers["authorization"] == "Bearer ol-key-5b1"

    down = OpenLineage(url=f"http://ol:pw-9c@127.0.0.1:{free_port()}", api_key="ol-key-5b1")
    with pytest.raises(LineageEmitError) as failed:  # the cursor stays: retried next tick
        lineage_tick(instance, down, assets)
    assert "pw-9c" not in str(failed.value) and "ol-key-5b1" not in str(failed.value)
