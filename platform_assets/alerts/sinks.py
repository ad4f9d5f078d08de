"""Where notifications go: a Slack-compatible webhook, a generic webhook, e-mail, the log.

Secrets (webhook URLs, the SMTP user and password) live only in the sink objects: every
error a sink raises is built from redacted text, so a failure can be logged, stored and
shown in the UI without leaking them.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any, Protocol

from platform_assets.redaction import redact, url_secrets
from platform_assets.sources.progress import Log

TIMEOUT_S = 10.0
ICONS = {"critical": ":rotating_light:", "warning": ":warning:"}


class SinkError(RuntimeError):
    """A sink did not accept a notification; the message is already free of secrets."""


class SecretFilter(logging.Filter):
    """Redacts registered secrets from records of loggers we do not own: urllib3 logs each
    request's path at DEBUG, and a Slack webhook's path is its credential."""

    secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_FILTER = SecretFilter()
FILTERED_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Keep these out of third-party HTTP logs, whatever level they are configured at."""
    SecretFilter.secrets.update(s for s in secrets if s)
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class Sink(Protocol):
    name: str

    def send(self, payload: dict[str, Any]) -> None: ...


def headline(payload: dict[str, Any]) -> str:
    state = "RESOLVED" if payload["event"] == "resolved" else payload["severity"].upper()
    return f"[{state}] [{payload['route']}] {payload['title']}"


def body_text(payload: dict[str, Any], with_link: bool = True) -> str:
    lines = [payload["text"]]
    facts = [("asset", payload.get("asset")), ("partition", payload.get("partition"))]
    facts += [("owner", payload.get("owner")), ("run", payload.get("run_id"))]
    lines.append(", ".join(f"{k}: {v}" for k, v in facts if v))
    if with_link and payload.get("link"):
        lines.append(f"Open in Dagster: {payload['link']}")
    if payload.get("report_link"):
        lines.append(f"Quality report: {payload['report_link']}")
    return "\n".join(line for line in lines if line)


class _HttpSink:
    name = "http"

    def __init__(self, url: str) -> None:
        self._url = url
        register_secrets(url_secrets(url))

    def _post(self, body: dict[str, Any]) -> None:
        import requests  # lazily: the code location imports this module; few runs send

        secrets = url_secrets(self._url)
        try:
            response = requests.post(self._url, json=body, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", secrets)
            raise SinkError(f"{self.name} sink unreachable ({reason})") from None
        if response.status_code >= 300:
            detail = redact(response.text[:200], secrets)
            raise SinkError(f"{self.name} sink answered HTTP {response.status_code}: {detail}")


class SlackSink(_HttpSink):
    """Slack (or Mattermost, Rocket.Chat...) incoming webhook: a JSON ``text`` message."""

    name = "slack"

    def send(self, payload: dict[str, Any]) -> None:
        resolved = payload["event"] == "resolved"
        icon = ":white_check_mark:" if resolved else ICONS[payload["severity"]]
        link = f"\n<{payload['link']}|Open in Dagster>" if payload.get("link") else ""
        text = f"{icon} *{headline(payload)}*\n{body_text(payload, with_link=False)}"
        self._post({"text": text + link})


class WebhookSink(_HttpSink):
    """Any receiver that takes the alert as JSON (a pager, an incident tool, a bot)."""

    name = "webhook"

    def send(self, payload: dict[str, Any]) -> None:
        self._post(payload)


class EmailSink:
    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        recipients: list[str],
        user: str = "",
        password: str = "",
        tls: str = "starttls",  # starttls | ssl | none
    ) -> None:
        if tls not in ("starttls", "ssl", "none"):
            raise ValueError(f"PLATFORM_ALERT_SMTP_TLS must be starttls, ssl or none, got {tls!r}")
        self._host, self._port, self._tls = host, port, tls
        self._sender, self._recipients = sender, recipients
        self._user, self._password = user, password
        register_secrets([password])

    def _message(self, payload: dict[str, Any]) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = headline(payload)
        message["From"] = self._sender
        message["To"] = ", ".join(self._recipients)
        message.set_content(
            body_text(payload) + "\n\n" + json.dumps(payload, indent=2, sort_keys=True)
        )
        return message

    def send(self, payload: dict[str, Any]) -> None:
        secrets = [self._user, self._password]
        try:
            self._deliver(self._message(payload))
        except (smtplib.SMTPException, OSError) as exc:
            reason = redact(f"{type(exc).__name__}: {exc}", secrets)
            raise SinkError(f"email sink failed ({self._host}:{self._port}: {reason})") from None

    def _deliver(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        if self._tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                self._host, self._port, timeout=TIMEOUT_S, context=context
            )
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=TIMEOUT_S)
        with smtp:
            if self._tls == "starttls":
                smtp.starttls(context=context)
            if self._user:
                smtp.login(self._user, self._password)
            smtp.send_message(message)


class LogSink:
    """The tick's log (shown in the UI) and the process log: always on."""

    name = "log"

    def __init__(self, log: Log) -> None:
        self._log = log

    def send(self, payload: dict[str, Any]) -> None:
        line = f"ALERT {headline(payload)} | {body_text(payload)}".replace("\n", " | ")
        if payload["event"] == "firing":
            self._log.warning(line)
        else:
            self._log.info(line)
