"""Secrets out of text: every message built from an error or a response passes through here.

Shared by the alert sinks, the metrics exporter and the OpenLineage emitter (a webhook or
push-gateway URL is a credential), so it sits below all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote, urlsplit, urlunsplit

MIN_SECRET_CHARS = 8
REDACTED = "***"


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
