"""A new REST source as YAML only, against a real API whose shape is not the demo's.

The shop's API (``shop_api``: Link-header pages, page numbers, the total in a header,
records at the top level, a timestamp and no date, an API key in a header) is read by a
source folder written here as ``defs.yaml`` plus a contract into a temporary dg project.
No Python is written for that source: the definitions are loaded from the folder.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

import platform_assets.contracts as contracts_module
from platform_assets.components.rest_api import Paginator, Table, Total
from platform_assets.contracts.loader import DEFS_DIR
from platform_assets.definitions import build_definitions
from platform_assets.sources.rest import RestApi
from platform_assets_tests.components.shop_api import (
    ACROSS_MIDNIGHT,
    BIG_ID,
    DAYS,
    PAGE_SIZE,
    ShopApi,
    served_on,
    tickets,
    window,
)

KEY = f"shop-key-{uuid.uuid4().hex}"
TICKETS = tickets()

DEFS_YAML = """\
# The ticket shop's API: written as configuration only, no Python.
type: platform_assets.components.RestApiSource
attributes:
  connection:
    base_url: "{{ env.SHOP_API_URL }}"
    auth: {type: api_key, header: X-Shop-Key, token_env: SHOP_API_KEY}
    retries: {max_attempts: 2, backoff_base_s: 0.01, backoff_max_s: 0.05}
  tables:
    - contract: shop_tickets.yaml
      path: /api/tickets
      params: {page: 1, from: "{start}", to: "{end}"}
      window: {format: timestamp}
      paginator: {type: header_link, limit_param: null}
      records: $
      total: {header: X-Total-Count}
"""

CONTRACT_YAML = """\
table: shop_tickets
layer: raw
description: Support tickets sold by the shop, one row per ticket, by UTC day of creation.
owner: team:support
primary_key: [ticket_id]
partition_column: ticket_date
drift_policy: fail
quarantine_threshold: 0.5
freshness: {warn_after: 26h, fail_after: 30h}
columns:
  - {name: ticket_id, type: int64, nullable: false, min: 1, description: Ticket id.}
  - {name: created_at, type: timestamp, nullable: false, description: When it was created.}
  - name: ticket_date
    type: date
    nullable: false
    derive: utc_date(created_at)
    description: UTC day of created_at (the API sends no date); the partition.
  - {name: amount, type: float64, nullable: false, min: 0, description: Price paid.}
  - name: status
    type: string
    nullable: false
    accepted_values: [open, pending, closed]
    description: Ticket status.
"""

# Written down by hand from shop_api's data, not computed by the code under test.
LOADED = {DAYS[0]: 13, DAYS[1]: 10, DAYS[2]: 18}
QUARANTINED = {DAYS[0]: 1, DAYS[1]: 3, DAYS[2]: 2}
PAGES = {DAYS[0]: 2, DAYS[1]: 2, DAYS[2]: 3}


@pytest.fixture
def shop() -> Iterator[ShopApi]:
    api = ShopApi(KEY).start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture(autouse=True)
def restore_defs_dir() -> Iterator[None]:
    """build_definitions makes the temporary defs folder the process's active one."""
    yield
    contracts_module.use_defs_dir(DEFS_DIR)


@dataclass
class Project:
    home: Path
    defs_dir: Path
    defs: dg.Definitions

    def materialize(self, instance: dg.DagsterInstance, day: date) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def("daily_job")
        return job.execute_in_process(
            partition_key=day.isoformat(), instance=instance, raise_on_error=False
        )

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        from platform_assets.warehouse.resource import Warehouse

        return Warehouse(url=f"duckdb:///{self.home}/warehouse.duckdb").query(sql, params)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shop: ShopApi) -> Iterator[Project]:
    """A dg project of its own whose defs folder holds only the shop's source folder."""
    package = f"shop_project_{uuid.uuid4().hex[:10]}"
    root = tmp_path / "proj"
    (root / package / "defs" / "shop_api").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\n'
        f'root_module = "{package}"\ndefs_module = "{package}.defs"\n'
    )
    (root / package / "__init__.py").write_text("")
    (root / package / "defs" / "__init__.py").write_text("")
    source = root / package / "defs" / "shop_api"
    (source / "defs.yaml").write_text(DEFS_YAML)
    (source / "shop_tickets.yaml").write_text(CONTRACT_YAML)
    home = tmp_path / "home"
    for name, value in {
        "SHOP_API_URL": shop.url,
        "SHOP_API_KEY": KEY,
        "PLATFORM_HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PLATFORM_WAREHOUSE_URL", raising=False)
    monkeypatch.syspath_prepend(str(root))
    defs = build_definitions(dg.ComponentTree.for_project(root))
    yield Project(home, source.parent, defs)
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
        del sys.modules[name]


def by_id(ticket_id: int) -> Any:
    return next(t for t in TICKETS if t.ticket_id == ticket_id)


def loaded_rows(project: Project) -> list[tuple]:
    return project.query(
        "SELECT ticket_id, created_at, ticket_date, amount, status "
        'FROM "raw"."shop_tickets" ORDER BY ticket_id'
    )


def quarantine_rows(project: Project) -> list[tuple]:
    return project.query(
        'SELECT asset, partition_key, record, reasons FROM "platform"."quarantine" '
        "ORDER BY partition_key, record"
    )


def quarantined(project: Project) -> dict[str, dict[int, dict[str, Any]]]:
    """partition -> ticket_id -> {"record": ..., "reasons": [(column, check, value)]}"""
    got: dict[str, dict[int, dict[str, Any]]] = {}
    for asset, partition, record, reasons in quarantine_rows(project):
        assert asset == "shop_tickets"
        record, reasons = json.loads(record), json.loads(reasons)
        got.setdefault(partition, {})[record["ticket_id"]] = {
            "record": record,
            "reasons": sorted((r["column"], r["check"], r["value"]) for r in reasons),
        }
    return got


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [event] = [  # the daily job also rebuilds the quality report
        e for e in result.get_asset_materialization_events() if e.asset_key.path == ["shop_tickets"]
    ]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_yaml_only_source_loads_three_partitions_exactly(project: Project, shop: ShopApi) -> None:
    keys = [a.key.to_user_string() for a in project.defs.assets or []]
    assert keys == ["shop_tickets", "quality_report"]  # + the report every project gets
    assert not list((project.defs_dir / "shop_api").glob("*.py"))  # no Python for the source
    with dg.DagsterInstance.ephemeral() as instance:
        for day in DAYS:
            shop.clear()
            result = project.materialize(instance, day)
            assert result.success, day
            checks = result.get_asset_check_evaluations()
            assert checks and all(c.passed for c in checks), [
                c.check_name for c in checks if not c.passed
            ]
            meta = metadata(result)
            assert (meta["rows_extracted"], meta["rows_loaded"], meta["rows_quarantined"]) == (
                LOADED[day] + QUARANTINED[day],
                LOADED[day],
                QUARANTINED[day],
            )
            assert meta["dagster/partition_row_count"] == LOADED[day]
            # Page 1 carries the rendered window; the rest follow the Link header, which
            # carries it on. Every request carried the key; no page size was sent.
            seen = shop.seen("/api/tickets")
            assert [(r.params, r.key, r.status) for r in seen] == [
                ({"page": str(page), **window(day)}, KEY, 200) for page in range(1, PAGES[day] + 1)
            ]
            assert shop.requests == seen  # nothing else was asked for

    rows = loaded_rows(project)
    per_day = pd.Series([r[2] for r in rows]).value_counts().to_dict()
    assert per_day == LOADED
    for day in DAYS:
        want = sorted(t.ticket_id for t in TICKETS if t.loads_into == day)
        assert [r[0] for r in rows if r[2] == day] == want
    # An id a float64 cannot hold loads exactly, though its page also holds a null id.
    assert [r[0] for r in rows if r[2] == DAYS[1]][-1] == BIG_ID
    # The rows stamped on the other side of midnight land in their UTC day.
    for stamp, instant in ACROSS_MIDNIGHT:
        [row] = [r for r in rows if by_id(r[0]).created_at == stamp]
        assert row[2] == instant.date() != date.fromisoformat(stamp[:10])
        assert row[1] == instant
    # Values arrive typed and unchanged (a -03:00 stamp is the same instant in UTC).
    first = rows[2]
    assert first == (1002, datetime(2026, 3, 10, 1, 19, 2, tzinfo=UTC), DAYS[0], 12.5, "closed")

    got = quarantined(project)
    assert {p: len(v) for p, v in got.items()} == {d.isoformat(): n for d, n in QUARANTINED.items()}
    for day in DAYS:
        want = {t.ticket_id: t for t in served_on(day) if t.reasons}
        assert set(got[day.isoformat()]) == set(want)
        for ticket_id, entry in got[day.isoformat()].items():
            ticket = want[ticket_id]
            # The record as the API sent it, plus the derived day (null when underivable).
            assert {k: v for k, v in entry["record"].items() if k != "ticket_date"} == (
                ticket.record()
            )
            reasons = {(column, value) for column, _, value in entry["reasons"]}
            assert {r for r in reasons if r[0] != "ticket_date"} == set(ticket.reasons)
    assert got["2026-03-10"][by_status("escalated")]["reasons"] == [
        ("status", "isin(['open', 'pending', 'closed'])", "escalated")
    ]
    assert got["2026-03-11"][by_status("lost")]["reasons"] == [
        ("amount", "greater_than_or_equal_to(0)", "-1.0"),
        ("status", "isin(['open', 'pending', 'closed'])", "lost"),
    ]
    # The record keeps the value as sent (an int stays an int), the reason the typed one.
    assert type(got["2026-03-11"][by_status("lost")]["record"]["amount"]) is int
    assert got["2026-03-11"][None]["reasons"] == [("ticket_id", "not_nullable", "<NA>")]
    unparseable = got["2026-03-12"][by_status("open", bad_ts=True)]
    assert unparseable["record"]["ticket_date"] is None
    assert [(c, k) for c, k, _ in unparseable["reasons"]] == [
        ("created_at", "type(timestamp)"),
        ("ticket_date", "in_partition(2026-03-12)"),
    ]
    [amount_na] = [v for k, v in got["2026-03-12"].items() if by_id(k).amount == "n/a"]
    assert amount_na["reasons"] == [("amount", "type(float64)", "n/a")]


def by_status(status: str, bad_ts: bool = False) -> int:
    [ticket] = [
        t
        for t in TICKETS
        if t.reasons
        and t.status == status
        and (("created_at", t.created_at) in t.reasons) == bad_ts
    ]
    return ticket.ticket_id


def test_rematerializing_partitions_changes_nothing(project: Project, shop: ShopApi) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        for day in DAYS:
            assert project.materialize(instance, day).success
        table, quarantine = loaded_rows(project), quarantine_rows(project)
        assert len(table) == sum(LOADED.values())
        assert len(quarantine) == sum(QUARANTINED.values())
        for day in (DAYS[2], DAYS[0]):
            shop.clear()
            result = project.materialize(instance, day)
            assert result.success
            assert len(shop.seen("/api/tickets")) == PAGES[day]  # really extracted again
            assert metadata(result)["rows_loaded"] == LOADED[day]
    assert loaded_rows(project) == table
    assert quarantine_rows(project) == quarantine


def test_a_refused_key_fails_the_run_at_once_and_loads_nothing(
    project: Project, shop: ShopApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("SHOP_API_KEY", wrong)  # secrets are read when a run starts
    with dg.DagsterInstance.ephemeral() as instance:
        result = project.materialize(instance, DAYS[0])
    assert not result.success
    assert [(r.key, r.status) for r in shop.requests] == [(wrong, 401)]  # permanent: no retry
    failures = [e for e in result.all_events if e.is_step_failure]
    assert failures
    text = " ".join(str(e.event_specific_data) for e in failures)
    assert "401" in text and wrong not in text
    assert project.query('SELECT count(*) FROM "raw"."shop_tickets"') == [(0,)]


# --- the other paginators, as the component configures them, against the same server ------


def fetch(
    shop: ShopApi,
    day: date,
    workers: int = 1,
    page_size: int = 5,
    params: dict[str, Any] | None = None,
    **table: Any,
) -> list[int | None]:
    endpoint = Table(contract="shop_tickets.yaml", **table).endpoint()
    client = RestApi(
        base_url=shop.url,
        auth="api_key",
        token=KEY,
        api_key_header="X-Shop-Key",
        page_size=page_size,
        max_attempts=1,
        max_workers=workers,
    )
    frames = list(client.pages(endpoint, {**(params or {}), **window(day)}))
    return [i for frame in frames for i in frame["ticket_id"].tolist()]


def test_json_link_follows_the_next_url_in_the_body(shop: ShopApi) -> None:
    got = fetch(
        shop,
        DAYS[2],
        path="/api/tickets-json",
        paginator=Paginator(type="json_link", next_url_path="meta.next"),
        records="items",
    )
    assert got == [t.ticket_id for t in served_on(DAYS[2])]
    seen = shop.seen("/api/tickets-json")
    assert [r.params.get("after") for r in seen] == [None, "5", "10", "15"]
    assert all(r.params["limit"] == "5" and r.key == KEY for r in seen)


def test_cursor_in_a_response_header(shop: ShopApi) -> None:
    got = fetch(
        shop,
        DAYS[2],
        path="/api/tickets-cursor",
        paginator=Paginator(type="cursor", cursor_header="X-Next-Cursor"),
    )
    assert got == [t.ticket_id for t in served_on(DAYS[2])]
    seen = shop.seen("/api/tickets-cursor")
    assert len(seen) == 4 and seen[0].params.get("cursor") is None
    assert all(r.params["cursor"] for r in seen[1:])


def test_single_page(shop: ShopApi) -> None:
    got = fetch(shop, DAYS[1], path="/api/tickets-all", paginator=Paginator(type="single_page"))
    assert got == [t.ticket_id for t in served_on(DAYS[1])]
    assert [r.params for r in shop.requests] == [window(DAYS[1])]


@pytest.mark.parametrize("workers", [1, 3])
def test_page_numbers_trust_the_header_total_over_short_pages(shop: ShopApi, workers: int) -> None:
    # The client asks for 10 per page; the server caps at 7, so every page is "short".
    got = fetch(
        shop,
        DAYS[2],
        workers=workers,
        page_size=10,
        path="/api/tickets-paged",
        paginator=Paginator(type="page_number"),
        records="results",
        total=Total(header="X-Total-Count"),
    )
    assert got == [t.ticket_id for t in served_on(DAYS[2])]
    assert len(got) == 20 > PAGE_SIZE
    pages = sorted(int(r.params["page"]) for r in shop.seen("/api/tickets-paged"))
    assert pages == [1, 2, 3]


def test_header_link_needs_no_page_size_and_stops_on_the_last_page(shop: ShopApi) -> None:
    got = fetch(
        shop,
        DAYS[0],
        path="/api/tickets",
        params={"page": 1},
        paginator=Paginator(type="header_link", limit_param=None),
        records="$",
        total=Total(header="X-Total-Count"),
    )
    assert got == [t.ticket_id for t in served_on(DAYS[0])]
    assert [r.params["page"] for r in shop.requests] == ["1", "2"]  # 14 rows: exactly 2 pages
