"""The quality report built by the daily job from real runs of three partitions."""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.report.facts import PII_MASK
from platform_assets_tests.report.conftest import (
    DAYS,
    FAILED_DAY,
    PLANTED_EMAIL,
    PLANTED_NAME,
    PLANTED_VALID_EMAIL,
    PLANTED_VALID_NAME,
    Built,
)

# The shared fixture runs the daily job three times: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)
CELL = re.compile(r'data-check="([^"]+)" data-partition="([^"]+)" data-outcome="([^"]+)"')
REASON_ROW = re.compile(r'<tr data-partition="([^"]+)">(.*?)</tr>', re.S)
REASON_CELL = re.compile(r'data-reason="([^"]+)">([\d,]+)<')


def page(built: Built, relative: str) -> str:
    return (built.folder / relative).read_text()


def grid(html: str) -> dict[tuple[str, str], str]:
    return {(check, partition): outcome for check, partition, outcome in CELL.findall(html)}


def test_the_runs_went_as_planted(built: Built) -> None:
    outcomes = {day: r.success for day, r in built.results.items()}
    errors = [
        (e.step_key, e.event_specific_data.error.message[:400])
        for r in built.results.values()
        for e in r.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    assert outcomes == {DAYS[0]: True, FAILED_DAY: False, DAYS[2]: True}, errors
    failed = [
        (c.asset_key.to_user_string(), c.check_name)
        for c in built.results[FAILED_DAY].get_asset_check_evaluations()
        if not c.passed and c.severity.value == "ERROR"
    ]
    # Two of five rows quarantined: too many (quarantine_rate), too few left (volume min_rows 5).
    assert failed == [("marketing_spend", "quarantine_rate"), ("marketing_spend", "volume_anomaly")]
    # The report is an asset of the daily job: built by the last (successful) run.
    built_by = {
        e.asset_key.to_user_string()
        for e in built.results[DAYS[2]].get_asset_materialization_events()
    }
    assert "quality_report" in built_by


def test_the_grid_shows_every_check_of_every_partition(built: Built) -> None:
    cells = grid(page(built, "tables/marketing_spend.html"))
    checks = ["primary_key_unique_not_null", "accepted_values_and_ranges", "quarantine_rate",
              "volume_anomaly", "schema_drift"]  # fmt: skip
    expected = {(c, d.isoformat()): "passed" for c in checks for d in DAYS}
    expected[("quarantine_rate", FAILED_DAY.isoformat())] = "failed"
    expected[("volume_anomaly", FAILED_DAY.isoformat())] = "failed"
    assert cells == expected
    # Unpartitioned tables file their results under "no partition", never nowhere.
    customers = grid(page(built, "tables/customers.html"))
    assert {partition for _, partition in customers} == {"no partition"}
    assert set(customers.values()) == {"passed"}


def test_the_failed_gate_has_its_page_with_rule_count_and_run(built: Built) -> None:
    html = page(built, f"checks/marketing_spend.quarantine_rate.{FAILED_DAY}.html")
    assert 'id="check-outcome">failed<' in html
    assert "2 of 5 rows quarantined (40.00%; max 20.00%)" in html
    assert "At most 20% of extracted rows are quarantined." in html  # the rule
    assert re.search(r'data-key="rows_quarantined">2<', html)
    run_id = built.results[FAILED_DAY].run_id
    assert f'href="http://dagster.example:3000/runs/{run_id}"' in html
    table = page(built, "tables/marketing_spend.html")
    assert f'href="../checks/marketing_spend.quarantine_rate.{FAILED_DAY}.html"' in table
    # Only results that did not pass get a page: the planted gates, and the WARN orphans of
    # quarantined orders in staging (by design).
    pages = {p.name: p.read_text() for p in (built.folder / "checks").iterdir()}
    for check in ("quarantine_rate", "volume_anomaly"):
        assert 'id="check-outcome">failed<' in pages[f"marketing_spend.{check}.{FAILED_DAY}.html"]
    others = {n: h for n, h in pages.items() if not n.startswith("marketing_spend.")}
    assert others and all('id="check-outcome">warned<' in h for h in others.values()), list(others)


def _report_reasons(html: str) -> dict[str, Counter]:
    table = html[html.index('id="quarantine-reasons"') :]
    table = table[: table.index("</table>")]
    found = {}
    for partition, row in REASON_ROW.findall(table):
        cells = {unescape(r): int(n.replace(",", "")) for r, n in REASON_CELL.findall(row)}
        found[partition] = Counter({r: n for r, n in cells.items() if n and r != "total"})
        found[partition]["total"] = cells["total"]
    return found


def _warehouse_reasons(built: Built, asset: str) -> dict[str, Counter]:
    rows = built.warehouse.query(
        'SELECT partition_key, reasons FROM "platform"."quarantine" WHERE asset = :asset',
        {"asset": asset},
    )
    found: dict[str, Counter] = {}
    for partition, reasons in rows:
        counter = found.setdefault(partition or "no partition", Counter())
        counter.update({f"{r['column']}: {r['check']}" for r in json.loads(reasons)})
        counter["total"] += 1
    return found


def test_reason_counts_equal_the_quarantine_table(built: Built) -> None:
    for table in ("orders", "payments", "marketing_spend", "customers"):
        expected = _warehouse_reasons(built, table)
        assert expected, f"{table}: the demo at 5% defects must quarantine rows"
        assert _report_reasons(page(built, f"tables/{table}.html")) == expected, table
    spend = _report_reasons(page(built, "tables/marketing_spend.html"))[FAILED_DAY.isoformat()]
    assert spend["spend_usd: greater_than_or_equal_to(0)"] >= 2


def test_overview_lists_every_table_with_its_latest_partition(built: Built) -> None:
    html = page(built, "index.html")
    rows = re.findall(r'<tr data-table="([^"]+)" data-status="([^"]+)">', html)
    assert len(rows) == 12  # every table, shipment_events included
    statuses = dict(rows)
    assert statuses["stg_payments"] == "warned"  # orphans of quarantined orders: WARN
    order = [s for _, s in rows]
    assert order == sorted(order, key=["failed", "warned", "never", "ok"].index)
    orders_row = html[html.index('data-table="orders"') :]
    assert DAYS[-1].isoformat() in orders_row[: orders_row.index("</tr>")]


def test_pii_appears_in_no_file_of_the_report(built: Built) -> None:
    files = [p for p in built.folder.rglob("*") if p.is_file()]
    assert files
    planted = [PLANTED_EMAIL, PLANTED_NAME, PLANTED_VALID_EMAIL, PLANTED_VALID_NAME]
    for path in files:
        text = path.read_text()
        for value in planted:
            assert value not in text, f"{value!r} in {path.relative_to(built.folder)}"
    # The planted record is in the quarantine (so the report had it to hide), masked.
    [(record,)] = built.warehouse.query(
        'SELECT record FROM "platform"."quarantine" WHERE record LIKE \'%990000001%\''
    )
    assert PLANTED_NAME in record
    assert PII_MASK.replace("<", "&lt;").replace(">", "&gt;") in page(
        built, "tables/customers.html"
    )


def test_the_report_is_self_contained(built: Built) -> None:
    for path in Path(built.folder).rglob("*.html"):
        html = path.read_text()
        assert not re.search(
            r"""(src|href)=["']?(https?:)?//""",
            html.replace('href="http://dagster.example:3000/runs/', ""),
        ), path  # only the UI link leaves
        assert "<script" not in html


def test_a_failed_daily_run_requests_the_report_job(built: Built) -> None:
    """The failed day skipped the report asset: the sensor asks for a run of its own."""
    from platform_assets.automation.schedules import daily_job
    from platform_assets.report.asset import REPORT_JOB, report_after_failure

    run_id = built.results[FAILED_DAY].run_id
    run = built.instance.get_run_by_id(run_id)
    [failure] = [
        r.event_log_entry.get_dagster_event()
        for r in built.instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
    ]
    sensor = report_after_failure(daily_job)
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=built.instance, dagster_run=run,
        dagster_event=failure,
    ).for_run_failure()  # fmt: skip
    request = sensor(context)
    assert request.run_key == f"report-after-{run_id}"
    assert sensor.targets[0].job_name == REPORT_JOB
