"""Lineage: column lineage from the contracts, OpenLineage events over file and HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.components.metadata import column_schema
from platform_assets.contracts import contracts, load_contracts
from platform_assets.contracts.docs import render_contract
from platform_assets.contracts.loader import ContractError, parse_contract
from platform_assets.observability.lineage import column_lineage, column_upstreams
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


def test_every_staging_and_mart_column_has_declared_lineage() -> None:
    transforms = [c for c in contracts().values() if c.layer in ("staging", "marts")]
    assert len(transforms) == 7
    for contract in transforms:
        lineage = column_lineage(contract)
        assert lineage is not None
        assert set(lineage.deps_by_column) == set(contract.column_names), contract.table
    assert column_lineage(contracts()["orders"]) is None


def test_mart_columns_reach_their_raw_columns_through_staging() -> None:
    revenue = column_upstreams("daily_revenue_by_country")
    assert revenue["booked_revenue_usd"] == {
        "direct": ["stg_orders.amount_usd", "stg_orders.is_revenue"],
        "raw": ["orders.amount_cents", "orders.status"],
        "text": "stg_orders.amount_usd <- orders.amount_cents; "
        "stg_orders.is_revenue <- orders.status",
    }
    assert revenue["country"]["raw"] == ["customers.country"]
    assert revenue["captured_usd"]["raw"] == ["payments.amount_cents"]
    roas = column_upstreams("marketing_roas")
    assert roas["roas"]["raw"] == ["orders.amount_cents", "marketing_spend.spend_usd"]
    assert roas["new_customers"]["raw"] == [
        "customers.customer_id",
        "customers.acquisition_channel",
    ]
    clv = column_upstreams("customer_lifetime_value")
    assert clv["lifetime_paid_usd"]["text"] == "stg_payments.amount_usd <- payments.amount_cents"
    assert clv["signup_date"]["raw"] == ["customers.signup_at"]  # CAST(signup_at AS DATE)


def test_staging_columns_name_their_raw_columns() -> None:
    assert column_upstreams("stg_orders")["amount_usd"] == {
        "direct": ["orders.amount_cents"],
        "raw": ["orders.amount_cents"],
        "text": "orders.amount_cents",
    }
    assert column_upstreams("stg_orders")["is_revenue"]["raw"] == ["orders.status"]
    assert column_upstreams("stg_marketing_spend")["ctr"]["raw"] == [
        "marketing_spend.clicks",
        "marketing_spend.impressions",
    ]
    assert column_upstreams("orders")["amount_cents"] == {"direct": [], "raw": [], "text": ""}


def test_each_column_description_names_its_upstream_columns() -> None:
    schema = column_schema(contracts()["daily_revenue_by_country"], contracts())
    described = {c.name: c.description for c in schema.columns}
    assert described["booked_revenue_usd"] == (
        "Total of revenue orders in dollars. From stg_orders.amount_usd <- "
        "orders.amount_cents; stg_orders.is_revenue <- orders.status."
    )
    staging = {c.name: c for c in column_schema(contracts()["stg_customers"], contracts()).columns}
    assert staging["email"].description == "Lower-cased login e-mail (PII). From customers.email."
    assert staging["email"].tags == {"pii": "true"} and staging["country"].tags == {}
    raw = {c.name: c.description for c in column_schema(contracts()["orders"], contracts()).columns}
    assert raw["amount_cents"] == contracts()["orders"].column("amount_cents").description


def test_the_contract_docs_show_the_same_chains() -> None:
    text = render_contract(contracts()["daily_revenue_by_country"], contracts())
    [row] = [line for line in text.splitlines() if line.startswith("| `booked_revenue_usd`")]
    assert (
        "from `stg_orders.amount_usd <- orders.amount_cents`, "
        "`stg_orders.is_revenue <- orders.status`"
    ) in row


def _contract(table: str, layer: str, lineage: list[str]) -> dict:
    return {
        "table": table,
        "layer": layer,
        "description": "d",
        "owner": "team:x",
        "primary_key": ["a"],
        "freshness": {"warn_after": "1h", "fail_after": "2h"},
        **({"quarantine_threshold": 0.1} if layer == "raw" else {}),
        "columns": [
            {
                "name": "a",
                "type": "int64",
                "nullable": False,
                "description": "a",
                "lineage": lineage,
            }
        ],
    }


def _write(folder: Path, *raws: dict) -> Path:
    for raw in raws:
        (folder / f"{raw['table']}.yaml").write_text(yaml.safe_dump(raw))
    return folder


def test_a_raw_column_ends_the_chain(tmp_path: Path) -> None:
    _write(tmp_path, _contract("r", "raw", []), _contract("r2", "raw", ["r.a"]))
    with pytest.raises(ContractError, match=r"r2.yaml: columns \(a\).lineage: a raw column's"):
        load_contracts(tmp_path)


def test_a_lineage_loop_is_refused_with_the_chain(tmp_path: Path) -> None:
    _write(tmp_path, _contract("s1", "staging", ["s2.a"]), _contract("s2", "staging", ["s1.a"]))
    with pytest.raises(ContractError, match=r"the chain loops back: s1.a <- s2.a <- s1.a"):
        load_contracts(tmp_path)


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
