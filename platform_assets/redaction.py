"""Secrets out of text: every message built from an error or a response passes through here.

Shared by the alert sinks, the metrics exporter, the OpenLineage emitter, the pipeline logs
and the launcher (a webhook or push-gateway URL is a credential), so it sits below all of them.

Which variables hold secrets is said once, here: the platform's own (``SECRET_VARIABLES``)
plus whatever the loaded definitions read as ``dg.EnvVar`` (a source's ``url_env``,
``token_env``...), which ``build_definitions`` declares (``declare_secret_variables``).
Their values are read from the environment when text is redacted, never stored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote, urlsplit, urlunsplit

MIN_SECRET_CHARS = 8
MIN_PASSWORD_CHARS = 4  # shorter "passwords" would only garble text where they occur
REDACTED = "***"
# The platform's own; a source's (the demo's PLATFORM_SOURCE_DB_URL, PLATFORM_API_TOKEN...)
# are read from the definitions instead (``declare_secret_variables``).
SECRET_VARIABLES = (
    "PLATFORM_WAREHOUSE_URL",
    "PLATFORM_ALERT_STATE_URL",
    "PLATFORM_ALERT_WEBHOOK_URL",
    "PLATFORM_ALERT_SLACK_WEBHOOK_URL",
    "PLATFORM_ALERT_SMTP_PASSWORD",
    "PLATFORM_CELERY_BROKER_URL",
    "PLATFORM_CELERY_BACKEND_URL",
    "PLATFORM_RABBITMQ_URL",
    "PLATFORM_PUSHGATEWAY_URL",
    "PLATFORM_OPENLINEAGE_URL",
    "PLATFORM_OPENLINEAGE_API_KEY",
    "DAGSTER_PG_PASSWORD",
)
_DECLARED: set[str] = set()  # per process: filled when the definitions load


def declare_secret_variables(names: Iterable[str]) -> None:
    """Variables the loaded definitions read as ``dg.EnvVar``: secrets by construction. Every
    process that runs platform code (launcher, step, sensor) loads the definitions first."""
    _DECLARED.update(names)


def secret_variables() -> tuple[str, ...]:
    return tuple(sorted({*SECRET_VARIABLES, *_DECLARED}))


def secrets_in(value: str) -> list[str]:
    """What of one variable's value must never be shown. A token: all of it. An HTTP(S) URL
    (a webhook): all of it and its long path, query and password (``url_secrets``). Any other
    URL (a database, a broker): its password only, so ``host/db`` stays readable."""
    if not value:
        return []
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        return url_secrets(value)
    if "://" in value:
        password = parts.password or ""
        return [password, unquote(password)] if len(password) >= MIN_PASSWORD_CHARS else []
    return [value]


def known_secrets(env: Mapping[str, str] = os.environ) -> list[str]:
    """The secret values set in ``env`` now, of every secret variable."""
    return [piece for name in secret_variables() for piece in secrets_in(env.get(name, ""))]


def redact_known(text: str, env: Mapping[str, str] = os.environ) -> str:
    """``text`` without any value of a secret variable (see ``secret_variables``)."""
    return redact(text, known_secrets(env))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        for form in {secret, quote(secret, safe=""), quote(secret)}:
            text = text.replace(form, REDACTED)
    return text


def without_password(url: str) -> str:
    """``scheme://user:***@host/path``: a URL fit to show (its userinfo password hidden).

    Only the password goes: the user, host and path say which server was meant."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    user = userinfo.partition(":")[0]
    netloc = f"{user}:{REDACTED}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def url_secrets(url: str) -> list[str]:
    """A webhook URL is a credential; so are its path, query and password on their own
    (parts too short to be a credential, like ``/`` or ``/hook``, would only garble text)."""
    parts = urlsplit(url)
    pieces = [parts.path, parts.query, parts.password or ""]
    return [url, *(p for p in pieces if len(p) >= MIN_SECRET_CHARS)]
