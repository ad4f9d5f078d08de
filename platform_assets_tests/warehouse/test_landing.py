"""Landing tables: created once on both backends, the event id lands at most once."""

from __future__ import annotations

import pytest

from platform_assets.warehouse.landing import ensure_landing_tables, landing_table
from platform_assets.warehouse.sessions import transaction

INSERT = "INSERT INTO {} VALUES (:id, NULL, now(), :body) ON CONFLICT (event_id) DO NOTHING"


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path, make_pg_database) -> str:
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'w.duckdb'}"
    return make_pg_database()


def test_a_redelivered_event_lands_once(warehouse_url: str) -> None:
    for _ in range(2):  # idempotent DDL, and the second delivery is a no-op
        with transaction(warehouse_url) as session:
            ensure_landing_tables(session, "shipment_events")
            session.execute(
                INSERT.format(landing_table("shipment_events")), {"id": "e1", "body": "{}"}
            )
    with transaction(warehouse_url) as session:
        table = landing_table("shipment_events")
        rows = session.execute(f"SELECT event_id, body FROM {table}")  # noqa: S608 - quoted
    assert rows == [("e1", "{}")]
