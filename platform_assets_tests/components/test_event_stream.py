"""The events asset and its sensor: landed events -> a day's partition, late events reopen it.

Events are written straight into the landing table (what the consumer does), so no broker is
needed here; the lag alert's test asks a real RabbitMQ for a queue's depth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.automation.event_sensor import build_event_sensor, latest_closed_day
from platform_assets.components.common import ConfigError
from platform_assets.components.event_stream import _check_contract
from platform_assets.contracts import Contract, contracts
from platform_assets.contracts.loader import ContractError, parse_contract
from platform_assets.definitions import build_definitions
from platform_assets.observability.summary import event_lines, event_streams, summarize
from platform_assets.sources.broker import EventBroker
from platform_assets.warehouse.landed import prepare_landing
from platform_assets.warehouse.landing import landing_table
from platform_assets.warehouse.resource import Warehouse

STREAM = "shipment_events"  # also the folder of defs/, the broker resource's key
BROKER_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"  # the event sensor never connects to it
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)


def at(day: date, hour: float) -> float:
    """Epoch seconds ``hour`` hours after ``day`` began (UTC)."""
    return (
        datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)
    ).timestamp()


def event(n: int, day: date = DAY, **fields: object) -> dict:
    occurred = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=n)
    return {
        "event_id": f"evt-{day}-{n}",
        "type": "picked_up",
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "order_id": 100 + n,
        "payload": {"carrier": "dhl", "tracking": f"T{n}"},
        **fields,
    }


def land(
    warehouse: Warehouse,
    events: list[dict | tuple[str, str, datetime | None]],
    received_at: datetime,
    stream: str = STREAM,
) -> None:
    """What the consumer writes: the id, occurred_at if readable, arrival time, raw body."""
    with warehouse.session() as session:
        prepare_landing(session, stream)
        for item in events:
            if isinstance(item, tuple):
                event_id, body, occurred = item
            else:
                event_id, body = str(item["event_id"]), json.dumps(item)
                text = item.get("occurred_at")
                occurred = datetime.fromisoformat(text) if isinstance(text, str) else None
            session.execute(
                f"INSERT INTO {landing_table(stream)} (event_id, occurred_at, received_at, body) "  # noqa: S608
                "VALUES (:id, :occurred, :received, :body)",
                {"id": event_id, "occurred": occurred, "received": received_at, "body": body},
            )


@pytest.fixture(scope="module")
def definitions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.Definitions]:
    home = tmp_path_factory.mktemp("events_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_HOME", str(home))
        patch.delenv("PLATFORM_WAREHOUSE_URL", raising=False)
        patch.delenv("PLATFORM_RABBITMQ_URL", raising=False)
        yield build_definitions()


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")


@pytest.fixture(params=["duckdb", "postgres"])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """The embedded default and PostgreSQL (the production warehouse)."""
    if request.param == "duckdb":
        return Warehouse(url=f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    return Warehouse(url=request.getfixturevalue("make_pg_database")())


@pytest.fixture
def contract() -> Contract:
    return contracts()[STREAM]


def materialize(
    definitions: dg.Definitions,
    warehouse: Warehouse,
    instance: dg.DagsterInstance,
    day: date = DAY,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [definitions.get_assets_def(STREAM)],
        partition_key=day.isoformat(),
        resources={"warehouse": warehouse},
        instance=instance,
        raise_on_error=False,
    )


def metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_day_is_its_landed_events_validated_with_every_reason(
    definitions: dg.Definitions, warehouse: Warehouse
) -> None:
    received = START + timedelta(hours=3)
    good = [event(n) for n in range(100, 200)]  # 5 bad of 105: under the 5% threshold
    bad = [
        event(10, type="teleported"),  # not an accepted type
        {k: v for k, v in event(11).items() if k != "order_id"},  # a field missing
        event(12, order_id="12x"),  # mistyped
    ]
    no_time = {k: v for k, v in event(13).items() if k != "occurred_at"}  # filed by arrival
    other_day = [event(1, DAY + timedelta(days=1))]  # not this partition
    not_object = ("evt-array", "[1, 2]", None)  # landed, but no object: a broken row
    land(warehouse, [*good, *bad, no_time, *other_day, not_object], received)
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(definitions, warehouse, instance)
    assert result.success
    meta = metadata(result)
    assert (meta["rows_extracted"], meta["rows_loaded"], meta["rows_quarantined"]) == (105, 100, 5)
    rows = warehouse.query(
        'SELECT event_id, type, order_id, payload, received_at FROM "raw"."shipment_events" '
        "ORDER BY event_id"
    )
    assert [r[0] for r in rows] == [f"evt-{DAY}-{n}" for n in range(100, 200)]
    assert json.loads(rows[0][3]) == {"carrier": "dhl", "tracking": "T100"}
    assert rows[0][4] == received
    reasons = {
        json.loads(record)["event_id"]: {(r["column"], r["check"]) for r in json.loads(why)}
        for record, why in warehouse.query(
            "SELECT record, reasons FROM platform.quarantine WHERE asset = :a", {"a": STREAM}
        )
    }
    assert set(reasons) == {f"evt-{DAY}-{n}" for n in (10, 11, 12, 13)} | {"evt-array"}
    assert any(c == "type" for c, _ in reasons[f"evt-{DAY}-10"])
    assert any(c == "order_id" for c, _ in reasons[f"evt-{DAY}-11"])
    assert any(c == "order_id" for c, _ in reasons[f"evt-{DAY}-12"])
    assert any(c == "occurred_at" for c, _ in reasons[f"evt-{DAY}-13"])
    assert reasons["evt-array"] == {("*", "event_body")}
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_an_empty_day_builds_with_zero_rows(
    definitions: dg.Definitions, warehouse: Warehouse
) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(definitions, warehouse, instance)
    assert result.success
    assert (metadata(result)["rows_extracted"], metadata(result)["rows_loaded"]) == (0, 0)
    assert all(e.passed for e in result.get_asset_check_evaluations())


def test_the_run_summary_says_what_happened_to_events(
    definitions: dg.Definitions, warehouse: Warehouse
) -> None:
    land(warehouse, [event(n) for n in range(4)], START + timedelta(hours=1))
    with dg.DagsterInstance.ephemeral() as instance:
        result = materialize(definitions, warehouse, instance)
    streams = event_streams(definitions)
    assert list(streams) == [STREAM] and not streams[STREAM].configured
    rows = summarize(result, [dg.AssetKey(STREAM), dg.AssetKey("orders")])
    assert event_lines(rows, streams) == [
        f"{STREAM}: 4 landed event(s) (no broker configured: PLATFORM_RABBITMQ_URL is not set)"
    ]
    configured = {STREAM: EventBroker(url=BROKER_URL)}
    assert event_lines(rows[1:], configured) == []  # only streams have a line
    unbuilt = summarize(result, [dg.AssetKey(STREAM)])
    unbuilt[0].rows_extracted = None
    assert event_lines(unbuilt, configured) == [
        f"{STREAM}: not built (from the broker in PLATFORM_RABBITMQ_URL)"
    ]


def tick(
    sensor: dg.SensorDefinition,
    instance: dg.DagsterInstance,
    warehouse: Warehouse,
    cursor: str | None,
) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"warehouse": warehouse, STREAM: EventBroker(url=BROKER_URL)},
    )
    return sensor(context)


def keys(result: dg.SensorResult) -> list[str]:
    return [r.run_key for r in result.run_requests or []]


def test_days_build_once_closed_and_late_events_reopen_them(
    definitions: dg.Definitions, any_warehouse: Warehouse, contract: Contract
) -> None:
    warehouse = any_warehouse
    clock = {"now": at(DAY, 25)}  # 01:00 the next day: the 2h late-arrival window is open
    sensor = build_event_sensor(contract, STREAM, lookback_days=1, clock=lambda: clock["now"])
    land(warehouse, [event(n) for n in range(3)], START + timedelta(hours=23))
    before = DAY - timedelta(days=1)
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(sensor, instance, warehouse, None)
        assert latest_closed_day(timedelta(hours=2), clock["now"]) == before
        assert keys(first) == [f"{STREAM}/{before - timedelta(days=1)}/0", f"{STREAM}/{before}/0"]
        clock["now"] = at(DAY, 26)  # 02:00: the day closes
        closed = tick(sensor, instance, warehouse, first.cursor)
        assert keys(closed) == [f"{STREAM}/{DAY}/3"]
        assert closed.run_requests[0].partition_key == DAY.isoformat()
        assert json.loads(closed.cursor or "") == {before.isoformat(): 0, DAY.isoformat(): 3}

        assert metadata(materialize(definitions, warehouse, instance))["rows_loaded"] == 3
        assert keys(tick(sensor, instance, warehouse, closed.cursor)) == []  # nothing new

        # A fresh cursor (a first start): days already built from the same events are not rerun.
        clock["now"] = at(DAY, 30)
        fresh = tick(sensor, instance, warehouse, None)
        assert keys(fresh) == [f"{STREAM}/{before}/0"]  # never materialized in this instance
        assert json.loads(fresh.cursor or "")[DAY.isoformat()] == 3

        # Two late events arrive for the closed day: it reopens, once.
        land(warehouse, [event(n) for n in (7, 8)], START + timedelta(hours=29))
        late = tick(sensor, instance, warehouse, fresh.cursor)
        assert keys(late) == [f"{STREAM}/{DAY}/5"]
        assert keys(tick(sensor, instance, warehouse, late.cursor)) == []
        result = materialize(definitions, warehouse, instance)
        assert metadata(result)["rows_loaded"] == 5
        assert warehouse.count(contract, DAY) == 5  # exact: replaced, never appended
        assert keys(tick(sensor, instance, warehouse, None)) == [f"{STREAM}/{before}/0"]


def test_without_a_broker_the_sensor_leaves_the_warehouse_alone(
    contract: Contract, tmp_path: Path
) -> None:
    missing = Warehouse(url=f"duckdb:///{tmp_path / 'never' / 'created.duckdb'}")
    sensor = build_event_sensor(contract, STREAM, clock=lambda: at(DAY, 30))
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources={"warehouse": missing, STREAM: EventBroker(url="")}
        )
        result = sensor(context)
    assert result.run_requests == [] and "no broker configured" in str(result.skip_reason)
    assert not (tmp_path / "never").exists()


def test_the_contract_says_when_a_day_closes_and_how_much_lag_is_tolerated(
    contract: Contract,
) -> None:
    assert contract.late_arrival is not None and contract.lag is not None
    assert contract.late_arrival.window == timedelta(hours=2)
    assert (contract.lag.warn, contract.lag.error) == (timedelta(minutes=5), timedelta(minutes=15))
    raw = {
        "table": "t",
        "layer": "raw",
        "description": "d",
        "owner": "team:x",
        "primary_key": ["event_id"],
        "quarantine_threshold": 0.1,
        "freshness": {"warn_after": "1h", "fail_after": "2h"},
        "columns": [{"name": "event_id", "type": "string", "nullable": False, "description": "i"}],
    }
    with pytest.raises(ContractError, match="t.yaml: late_arrival: only partitioned tables"):
        parse_contract({**raw, "late_arrival": {"window": "2h"}}, "t.yaml")
    with pytest.raises(ContractError, match="t.yaml: lag: warn must be shorter than error"):
        parse_contract({**raw, "lag": {"warn": "15m", "error": "5m"}}, "t.yaml")
    with pytest.raises(ContractError, match=r"t.yaml: lag: needs exactly the fields"):
        parse_contract({**raw, "lag": {"warn": "5m", "eror": "15m"}}, "t.yaml")


class Here:
    """Where a component's message points (components.common.Located's interface)."""

    def where(self, field: str) -> str:
        return f"shipment_events/defs.yaml: attributes.{field}"


def test_a_contract_that_is_no_event_stream_is_refused_naming_what_it_lacks(
    contract: Contract,
) -> None:
    plain = replace(contract, late_arrival=None, primary_key=("order_id",))
    with pytest.raises(ConfigError) as raised:
        _check_contract(Here(), plain, "streams[0]")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "shipment_events/defs.yaml: attributes.streams[0]: shipment_events/shipment_events.yaml "
        "is an event stream's contract and needs late_arrival: {window: ...}, an event_id "
        "column as its primary key"
    )
