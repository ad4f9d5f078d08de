"""Freshness SLOs and partition deadlines: one alert per breach, escalation, one recovery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from platform_assets.alerts.sensors import build_freshness_alert_sensor
from platform_assets.alerts.store import AlertStore
from platform_assets_tests.alerts.conftest import SECRETS, SMTP_USER
from platform_assets_tests.alerts.helpers import dispatch, materialize_now, tick

HOUR = 3600.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_stale_asset_pages_once_then_recovers_once(sinks, instance, caplog) -> None:
    caplog.set_level("DEBUG")
    # Unpartitioned assets: no partition deadline can fire at whatever time the test runs.
    loaded_at = materialize_now(instance, "customers")
    clock = Clock(loaded_at + 37 * HOUR)  # customers: warn after 26h, fail after 36h
    sensor = build_freshness_alert_sensor(clock, tables=["customers"])

    for _ in range(3):  # repeated ticks: still one breach
        tick(sensor, instance, sinks.alerting)
        dispatch(instance, sinks.alerting)
    # A daemon restart: a new sensor object, no cursor; the state is durable.
    restarted = build_freshness_alert_sensor(clock, tables=["customers"])
    tick(restarted, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)

    [page] = sinks.webhook()
    assert (page["event"], page["severity"], page["kind"]) == ("firing", "critical", "freshness")
    assert (page["asset"], page["owner"], page["route"]) == ("customers", "team:crm", "crm")
    assert page["link"] == "http://dagster.example:3000/assets/customers"
    assert "last materialized 37h00m ago" in page["text"]
    assert "warns after 26h00m, fails after 36h00m" in page["text"]
    [chat] = sinks.slack()
    assert chat["text"].startswith(":rotating_light: *[CRITICAL] [crm] customers breaches")
    [mail] = sinks.smtp.inbox
    assert mail["Subject"] == "[CRITICAL] [crm] customers breaches its freshness SLO"
    assert mail["To"] == "oncall@example.com, data@example.com"
    assert sinks.smtp.logins == [SMTP_USER]

    reloaded_at = materialize_now(instance, "customers")
    clock.now = reloaded_at + 1 * HOUR
    for _ in range(2):
        tick(sensor, instance, sinks.alerting)
        dispatch(instance, sinks.alerting)

    assert [p["event"] for p in sinks.webhook()] == ["firing", "resolved"]
    resolved = sinks.webhook()[1]
    assert resolved["title"] == "Resolved: customers breaches its freshness SLO"
    assert resolved["text"].startswith("Fresh again: customers was last materialized 1h00m ago")
    assert [m["Subject"] for m in sinks.smtp.inbox][1].startswith("[RESOLVED] [crm]")
    assert len(sinks.slack()) == 2
    assert AlertStore(sinks.state_url).open_alerts() == []
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert_no_secrets(sinks.everything_received() + "\n".join(ours))


def test_warning_goes_to_chat_then_escalates_to_a_page(sinks, instance) -> None:
    loaded_at = materialize_now(instance, "customer_lifetime_value")
    clock = Clock(loaded_at + 28 * HOUR)  # warn after 27h, fail after 36h
    sensor = build_freshness_alert_sensor(clock, tables=["customer_lifetime_value"])
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    [chat] = sinks.slack()
    # team:analytics has no route of its own: the default route.
    assert chat["text"].startswith(
        ":warning: *[WARNING] [data-platform] customer_lifetime_value is close to breaching"
    )
    assert sinks.webhook() == [] and sinks.smtp.inbox == []  # warnings never page

    clock.now = loaded_at + 36.5 * HOUR
    tick(sensor, instance, sinks.alerting)
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    assert [p["severity"] for p in sinks.webhook()] == ["critical"]
    assert len(sinks.slack()) == 2 and len(sinks.smtp.inbox) == 1


def test_never_materialized_asset_raises_no_freshness_alert(sinks, instance) -> None:
    sensor = build_freshness_alert_sensor(Clock(datetime(2026, 3, 11, 5, tzinfo=UTC).timestamp()))
    result = tick(sensor, instance, sinks.alerting)
    assert result.skip_message == "0 freshness alert(s) raised, 0 cleared"


def test_missed_partition_deadline_pages_and_clears_once_loaded(sinks, instance) -> None:
    before = datetime(2026, 3, 11, 5, 59, tzinfo=UTC).timestamp()  # deadline 06:00 UTC
    clock = Clock(before)
    sensor = build_freshness_alert_sensor(clock, tables=["orders"])
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    assert sinks.webhook() == []

    clock.now = datetime(2026, 3, 11, 7, 0, tzinfo=UTC).timestamp()
    tick(sensor, instance, sinks.alerting)
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    [page] = sinks.webhook()
    assert page["alert"] == "deadline:orders:2026-03-10"
    assert (page["severity"], page["route"]) == ("critical", "commerce")
    assert page["partition"] == "2026-03-10"
    assert page["title"] == "orders[2026-03-10] missed its 06:00 UTC deadline"
    assert page["link"] == (
        "http://dagster.example:3000/assets/orders?view=partitions&partition=2026-03-10"
    )

    materialize_now(instance, "orders", "2026-03-10")
    tick(sensor, instance, sinks.alerting)
    dispatch(instance, sinks.alerting)
    assert [p["event"] for p in sinks.webhook()] == ["firing", "resolved"]
    assert sinks.webhook()[1]["text"] == "orders[2026-03-10] is materialized now."


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.mark.parametrize("raw", ["{not json", '["team:finance"]'])
def test_invalid_routing_table_stops_loading(raw: str) -> None:
    from platform_assets.alerts.resource import alerting_from_env

    with pytest.raises(ValueError, match="PLATFORM_ALERT_ROUTES"):
        alerting_from_env({"PLATFORM_ALERT_ROUTES": raw})
