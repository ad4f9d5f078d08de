"""The alerting configuration as a Dagster resource, built from PLATFORM_ALERT_* env vars.

Secrets (webhook URLs, SMTP credentials, a PostgreSQL state URL) are dg.EnvVar: read when a
sensor runs, shown as the variable's name (never its value) in the UI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import dagster as dg

from platform_assets.alerts.model import Alert, Notification
from platform_assets.alerts.routing import (
    DEFAULT_ROUTE,
    DEFAULT_UI_URL,
    Links,
    Router,
    parse_routes,
)
from platform_assets.alerts.sinks import EmailSink, LogSink, Sink, SinkError, SlackSink, WebhookSink
from platform_assets.home import platform_home
from platform_assets.redaction import redact_known
from platform_assets.sources.progress import Log

if TYPE_CHECKING:  # SQLAlchemy is imported when a sensor opens the store, not at load
    from platform_assets.alerts.store import AlertStore


def alert_state_url(env: Mapping[str, str] = os.environ) -> str:
    """PLATFORM_ALERT_STATE_URL; else the warehouse if PostgreSQL; else a SQLite file."""
    if env.get("PLATFORM_ALERT_STATE_URL"):
        return env["PLATFORM_ALERT_STATE_URL"]
    warehouse = env.get("PLATFORM_WAREHOUSE_URL", "")
    if warehouse.startswith(("postgresql", "postgres:")):
        return warehouse
    return f"sqlite:///{platform_home(env) / 'alerts.sqlite'}"


def _state_url_config(env: Mapping[str, str]) -> Any:
    for name in ("PLATFORM_ALERT_STATE_URL", "PLATFORM_WAREHOUSE_URL"):
        if env.get(name) and alert_state_url(env) == env[name]:
            return dg.EnvVar(name)
    return alert_state_url(env)


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: list[tuple[Notification, str]] = field(default_factory=list)
    deferred: int = 0  # not tried this tick: their sink already failed in this tick

    def summary(self) -> str:
        text = f"{self.delivered} notification(s) delivered"
        if self.failed or self.deferred:
            sinks = sorted({n.sink for n, _ in self.failed})
            text += (
                f", {len(self.failed)} failed and {self.deferred} deferred "
                f"(sinks down: {', '.join(sinks)}; kept pending, retried next tick)"
            )
        return text


class Alerting(dg.ConfigurableResource):
    """Routing, links, sinks and the durable alert state."""

    state_url: str
    ui_url: str = DEFAULT_UI_URL
    routes: str = ""  # JSON: owner -> route
    default_route: str = DEFAULT_ROUTE
    slack_webhook_url: str = ""
    webhook_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = ""
    smtp_to: str = ""  # comma-separated recipients
    smtp_tls: str = "starttls"  # starttls | ssl | none

    def store(self) -> AlertStore:
        from platform_assets.alerts.store import AlertStore

        return AlertStore(self.state_url)

    def router(self) -> Router:
        return Router(parse_routes(self.routes), self.default_route)

    def links(self) -> Links:
        return Links(self.ui_url)

    def sinks(self, log: Log) -> dict[str, Sink]:
        sinks: dict[str, Sink] = {"log": LogSink(log)}
        if self.slack_webhook_url:
            sinks["slack"] = SlackSink(self.slack_webhook_url)
        if self.webhook_url:
            sinks["webhook"] = WebhookSink(self.webhook_url)
        if self.smtp_host:
            recipients = [r.strip() for r in self.smtp_to.split(",") if r.strip()]
            if not (self.smtp_from and recipients):
                raise ValueError("PLATFORM_ALERT_SMTP_HOST needs PLATFORM_ALERT_SMTP_FROM and _TO")
            sinks["email"] = EmailSink(
                self.smtp_host,
                self.smtp_port,
                self.smtp_from,
                recipients,
                self.smtp_user,
                self.smtp_password,
                self.smtp_tls,
            )
        return sinks

    def sink_names(self) -> set[str]:
        names = {"log"}
        names |= {"slack"} if self.slack_webhook_url else set()
        names |= {"webhook"} if self.webhook_url else set()
        names |= {"email"} if self.smtp_host else set()
        return names

    def fire(self, alert: Alert, now: float | None = None) -> str:
        """Record a breach; the dispatch sensor announces it (once)."""
        route = self.router().route(alert.owner)
        # Alert text quotes errors; it is stored, sent and shown: no secret may travel in it.
        alert = replace(alert, title=redact_known(alert.title), text=redact_known(alert.text))
        return self.store().fire(alert, route, self.sink_names(), now)

    def clear(self, key: str, reason: str, now: float | None = None) -> bool:
        return self.store().clear(key, redact_known(reason), self.sink_names(), now)

    def deliver(self, log: Log, limit: int = 200) -> DeliveryReport:
        """Send pending notifications; a failing sink keeps them pending for the next tick."""
        store, sinks, report = self.store(), self.sinks(log), DeliveryReport()
        down: set[str] = set()
        for notification in store.pending(limit):
            sink = sinks.get(notification.sink)
            if sink is None:
                reason = f"dropped: sink {notification.sink!r} is no longer configured"
                log.warning(f"alert {notification.alert_key}: {reason}")
                store.dropped(notification.id, reason)
                continue
            if notification.sink in down:
                report.deferred += 1
                continue
            if not store.claim(notification.id):
                continue  # another tick is sending it right now
            try:
                sink.send(notification.payload)
            except SinkError as exc:
                down.add(notification.sink)
                store.failed(notification.id, str(exc))
                report.failed.append((notification, str(exc)))
                log.error(
                    f"ALERT DELIVERY FAILED: {notification.alert_key} ({notification.event}) "
                    f"-> {notification.sink}, attempt {notification.attempts + 1}: {exc}; "
                    "kept pending, retried next tick"
                )
                continue
            store.delivered(notification.id)
            report.delivered += 1
        return report


def _secret(env: Mapping[str, str], name: str) -> Any:
    return dg.EnvVar(name) if env.get(name) else ""


def alerting_from_env(env: Mapping[str, str] = os.environ) -> Alerting:
    routes = env.get("PLATFORM_ALERT_ROUTES", "")
    parse_routes(routes)  # invalid routing stops the code location from loading, loudly
    port = env.get("PLATFORM_ALERT_SMTP_PORT", "587")
    if not port.isdigit():
        raise ValueError(f"PLATFORM_ALERT_SMTP_PORT must be a port number, got {port!r}")
    return Alerting(
        state_url=_state_url_config(env),
        ui_url=env.get("PLATFORM_UI_URL", DEFAULT_UI_URL),
        routes=routes,
        default_route=env.get("PLATFORM_ALERT_DEFAULT_ROUTE", DEFAULT_ROUTE),
        slack_webhook_url=_secret(env, "PLATFORM_ALERT_SLACK_WEBHOOK_URL"),
        webhook_url=_secret(env, "PLATFORM_ALERT_WEBHOOK_URL"),
        smtp_host=env.get("PLATFORM_ALERT_SMTP_HOST", ""),
        smtp_port=int(port),
        smtp_user=_secret(env, "PLATFORM_ALERT_SMTP_USER"),
        smtp_password=_secret(env, "PLATFORM_ALERT_SMTP_PASSWORD"),
        smtp_from=env.get("PLATFORM_ALERT_SMTP_FROM", ""),
        smtp_to=env.get("PLATFORM_ALERT_SMTP_TO", ""),
        smtp_tls=env.get("PLATFORM_ALERT_SMTP_TLS", "starttls"),
    )
