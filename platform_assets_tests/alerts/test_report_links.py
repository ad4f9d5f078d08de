"""Alerts link to the table's page in the quality report when PLATFORM_REPORT_URL is set."""

from __future__ import annotations

from platform_assets.alerts.routing import report_link
from platform_assets.alerts.sensors import build_freshness_alert_sensor
from platform_assets_tests.alerts.helpers import dispatch, materialize_now, tick

PAGE = "https://reports.example/quality/tables/customers.html"


def test_report_link_needs_the_url_and_a_table() -> None:
    env = {"PLATFORM_REPORT_URL": "https://reports.example/quality/"}
    assert report_link("customers", env) == PAGE
    assert report_link("customers", {}) is None
    assert report_link(None, env) is None


def test_every_sink_carries_the_tables_report_page(sinks, instance, monkeypatch) -> None:
    monkeypatch.setenv("PLATFORM_REPORT_URL", "https://reports.example/quality")
    loaded_at = materialize_now(instance, "customers")
    sensor = build_freshness_alert_sensor(lambda: loaded_at + 37 * 3600.0, tables=["customers"])
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)

    [page] = sinks.webhook()
    assert page["report_link"] == PAGE
    [chat] = sinks.slack()
    assert f"Quality report: {PAGE}" in chat["text"]
    [mail] = sinks.smtp.inbox
    assert f"Quality report: {PAGE}" in mail.get_payload(decode=True).decode()


def test_no_report_url_no_report_line(sinks, instance, monkeypatch) -> None:
    monkeypatch.delenv("PLATFORM_REPORT_URL", raising=False)
    loaded_at = materialize_now(instance, "customers")
    sensor = build_freshness_alert_sensor(lambda: loaded_at + 37 * 3600.0, tables=["customers"])
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    [page] = sinks.webhook()
    assert page["report_link"] is None
    assert "Quality report" not in sinks.slack()[0]["text"]
