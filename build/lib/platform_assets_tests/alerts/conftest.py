"""Alert tests: real webhook and SMTP receivers, a temporary Dagster instance, and an
``Alerting`` resource wired to them with secrets that must never show up anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.alerts.resource import Alerting
from platform_assets_tests.alerts.receivers import HttpReceiver, SmtpReceiver

SLACK_SECRET = "T000SLACK/B000/xoxb-slack-secret-9d1f"
HOOK_SECRET = "hook-token-5c2e7a"
SMTP_USER = "alerts-bot"
SMTP_PASSWORD = "smtp-password-8f3b2a"
SECRETS = (SLACK_SECRET, HOOK_SECRET, SMTP_PASSWORD)
ROUTES = {"team:finance": "finance", "team:commerce": "commerce", "team:crm": "crm"}


@dataclass
class Sinks:
    http: HttpReceiver
    smtp: SmtpReceiver
    alerting: Alerting
    state_url: str

    def slack(self) -> list[dict]:
        return [r.json() for r in self.http.posts("/slack/")]

    def webhook(self) -> list[dict]:
        return [r.json() for r in self.http.posts("/hook")]

    def everything_received(self) -> str:
        """Every byte any receiver got: bodies, paths of bodies, headers, mails."""
        parts = [r.body.decode() + json.dumps(r.headers) for r in self.http.requests]
        parts += [m.as_string() for m in self.smtp.inbox]
        return "\n".join(parts)


def make_alerting(
    http: HttpReceiver, smtp: SmtpReceiver, state_url: str, **overrides: object
) -> Alerting:
    settings: dict[str, object] = {
        "state_url": state_url,
        "ui_url": "http://dagster.example:3000",
        "routes": json.dumps(ROUTES),
        "default_route": "data-platform",
        "slack_webhook_url": f"{http.url}/slack/{SLACK_SECRET}",
        "webhook_url": f"{http.url}/hook?token={HOOK_SECRET}",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_user": SMTP_USER,
        "smtp_password": SMTP_PASSWORD,
        "smtp_from": "dagster@example.com",
        "smtp_to": "oncall@example.com, data@example.com",
        "smtp_tls": "none",  # the test server speaks plain SMTP; production uses starttls
    }
    return Alerting(**{**settings, **overrides})


@pytest.fixture
def sinks(tmp_path: Path) -> Iterator[Sinks]:
    http = HttpReceiver().start()
    smtp = SmtpReceiver(SMTP_USER, SMTP_PASSWORD).start()
    state_url = f"sqlite:///{tmp_path / 'alerts.sqlite'}"
    try:
        yield Sinks(http, smtp, make_alerting(http, smtp, state_url), state_url)
    finally:
        http.stop()
        smtp.stop()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """In-memory storage (fast); run retries on, as in the production dagster.yaml."""
    settings = {"run_retries": {"enabled": True, "max_retries": 2}}
    with dg.DagsterInstance.ephemeral(settings=settings) as test_instance:
        yield test_instance
