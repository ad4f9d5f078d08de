"""Delivery: a sink that is down keeps its notifications pending until it is back, loudly,
without secrets; rejected drop files reach the chat once, and clear on re-delivery."""

from __future__ import annotations

import os
import time

import dagster as dg
import pytest

from platform_assets.alerts.sensors import (
    AlertDeliveryError,
    build_drop_alert_sensor,
    build_freshness_alert_sensor,
)
from platform_assets.alerts.store import AlertStore
from platform_assets.automation.drop_sensor import build_drop_sensor
from platform_assets.contracts import contracts
from platform_assets.sources.files import LandingDirectory
from platform_assets_tests.alerts.conftest import SECRETS, make_alerting
from platform_assets_tests.alerts.helpers import dispatch, materialize_now, tick
from platform_assets_tests.alerts.receivers import HttpReceiver, free_port

HOUR = 3600.0


def test_a_down_sink_delays_the_alert_until_it_is_back(sinks, instance, caplog, capfd) -> None:
    caplog.set_level("DEBUG")
    down = HttpReceiver(port=free_port())  # nothing listens on its port yet
    alerting = make_alerting(down, sinks.smtp, sinks.state_url)
    loaded_at = materialize_now(instance, "customers")
    sensor = build_freshness_alert_sensor(lambda: loaded_at + 30 * HOUR, tables=["customers"])
    detected = tick(sensor, instance, alerting)  # a warning: chat (slack) and the log
    assert detected.skip_message == (  # the tick does not fail: detection worked
        "1 freshness alert(s) raised, 0 cleared; 1 notification(s) delivered, 1 failed and 0 "
        "deferred (sinks down: slack; kept pending, retried next tick)"
    )
    for attempt in (2, 3):  # the dispatch sensor retries, and its tick fails loudly
        with pytest.raises(AlertDeliveryError) as failed:
            dispatch(instance, alerting)
        message = str(failed.value)
        assert message.startswith("0 notification(s) delivered, 1 failed and 0 deferred")
        assert "(sinks down: slack; kept pending, retried next tick)" in message
        [pending] = AlertStore(sinks.state_url).pending()
        assert (pending.sink, pending.attempts) == ("slack", attempt)
        assert pending.last_error is not None
        assert pending.last_error.startswith("slack sink unreachable (ConnectionError")
        for text in (message, pending.last_error):
            assert all(secret not in text for secret in SECRETS)

    down.start()
    try:
        assert dispatch(instance, alerting).skip_message == "1 notification(s) delivered"
        assert dispatch(instance, alerting).skip_message == "0 notification(s) delivered"
    finally:
        down.stop()
    [chat] = [r.json() for r in down.posts("/slack/")]
    assert chat["text"].startswith(":warning: *[WARNING] [crm] customers is close to breaching")
    tick_log = capfd.readouterr().err  # the sensor's log, as the daemon writes it
    assert "ALERT DELIVERY FAILED: freshness:customers (firing) -> slack, attempt 3" in tick_log
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert all(secret not in line for line in [*ours, tick_log] for secret in SECRETS)


def test_an_unconfigured_sink_is_skipped_and_the_log_always_gets_the_alert(
    sinks, instance, capfd
) -> None:
    only_log = make_alerting(
        sinks.http, sinks.smtp, sinks.state_url, slack_webhook_url="", webhook_url="", smtp_host=""
    )
    loaded_at = materialize_now(instance, "customers")
    sensor = build_freshness_alert_sensor(lambda: loaded_at + 40 * HOUR, tables=["customers"])
    assert tick(sensor, instance, only_log).skip_message == (
        "1 freshness alert(s) raised, 0 cleared; 1 notification(s) delivered"
    )
    assert dispatch(instance, only_log).skip_message == "0 notification(s) delivered"
    assert sinks.http.requests == [] and sinks.smtp.inbox == []
    assert "ALERT [CRITICAL] [crm] customers breaches its freshness SLO" in capfd.readouterr().err


def test_rejected_drop_file_alerts_once_and_clears_on_redelivery(sinks, instance, tmp_path) -> None:
    landing = tmp_path / "landing"
    (landing / "marketing_spend").mkdir(parents=True)
    bad = landing / "marketing_spend" / "marketing_spend_2026-03-10.csv"
    bad.write_text("day,channel,spend\n2026-03-10,search,12.5\n")
    old = time.time() - 60
    os.utime(bad, (old, old))
    drops = build_drop_sensor(contracts()["marketing_spend"], "agency_drops", min_age_s=0)
    cursor = None
    for _ in range(2):  # first sight, then unchanged: the file is complete and is judged
        context = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"agency_drops": LandingDirectory(path=str(landing))},
        )
        cursor = drops(context).cursor
    assert not bad.exists()  # moved to rejected/

    alerts = build_drop_alert_sensor(name="drops")
    result = tick(alerts, instance, sinks.alerting)
    assert result.skip_reason.skip_message == (
        "1 rejected drop alert(s) raised, 0 cleared; 2 notification(s) delivered"  # log, slack
    )
    again = tick(alerts, instance, sinks.alerting, cursor=result.cursor)
    assert again.skip_reason.skip_message == "0 rejected drop alert(s) raised, 0 cleared"
    dispatch(instance, sinks.alerting)
    [chat] = sinks.slack()
    assert chat["text"].startswith(
        ":warning: *[WARNING] [data-platform] Drop file marketing_spend_2026-03-10.csv for "
        "marketing_spend was rejected*"
    )
    assert "marketing_spend/rejected/marketing_spend_2026-03-10.csv" in chat["text"]
    assert sinks.webhook() == []  # a warning: chat only

    materialize_now(instance, "marketing_spend", "2026-03-10")  # the corrected file loaded
    cleared = tick(alerts, instance, sinks.alerting, cursor=result.cursor)
    assert cleared.skip_reason.skip_message == (
        "0 rejected drop alert(s) raised, 1 cleared; 2 notification(s) delivered"
    )
    dispatch(instance, sinks.alerting)
    assert sinks.slack()[1]["text"].startswith(":white_check_mark: *[RESOLVED] [data-platform]")


def test_an_alert_quoting_a_secret_variable_is_sent_and_stored_without_it(
    sinks, instance, monkeypatch
) -> None:
    """A run-failure text quotes the error, and the error a URL with the warehouse password:
    what the webhook, the mail and the alert store get says ``***`` instead."""
    from platform_assets.alerts.model import Alert

    password = "wh-password-4e1b9c"
    monkeypatch.setenv("PLATFORM_WAREHOUSE_URL", f"postgresql://etl:{password}@db/warehouse")
    alert = Alert(
        key="run_failure:daily_job:2026-03-10",
        kind="run_failure",
        severity="critical",
        title=f"Run failed on postgresql://etl:{password}@db",
        text=f"Failed steps: orders: could not connect to postgresql://etl:{password}@db",
    )
    assert sinks.alerting.fire(alert) == "opened"
    dispatch(instance, sinks.alerting)
    [hook] = sinks.webhook()
    assert "could not connect to postgresql://etl:***@db" in str(hook)
    assert sinks.smtp.inbox  # the mail went out too (critical), and is searched below
    stored = "\n".join(str(row) for row in AlertStore(sinks.state_url).open_alerts())
    assert "postgresql://etl:***@db" in stored
    assert password not in sinks.everything_received() + stored
