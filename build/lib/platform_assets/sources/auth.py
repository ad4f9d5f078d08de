"""API credentials: turned into request headers, and kept out of every message we write.

Secrets reach us through ``dg.EnvVar`` and leave only in request headers. ``redact`` is the
second line of defence: every error and log line built from a response (an API may echo the
token back in an error body) passes through it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

AUTH_KINDS = ("bearer", "api_key", "basic", "none")
REDACTED = "***"


class AuthConfigError(ValueError):
    """The credentials are incomplete; the message names the setting, never its value."""


@dataclass(frozen=True)
class Auth:
    kind: str
    token: str | None = field(default=None, repr=False)
    api_key_header: str = "X-API-Key"
    api_key_param: str | None = None  # the key travels as this query parameter instead
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in AUTH_KINDS:
            raise AuthConfigError(f"auth must be one of {AUTH_KINDS}, got {self.kind!r}")
        if self.kind in ("bearer", "api_key") and not self.token:
            raise AuthConfigError(f"auth={self.kind!r} needs a token (set its EnvVar)")
        if self.kind == "basic" and not (self.username and self.password):
            raise AuthConfigError("auth='basic' needs a username and a password (set the EnvVars)")

    def _basic(self) -> str:
        return base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def headers(self) -> dict[str, str]:
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.token}"}
        if self.kind == "api_key" and self.api_key_param is None:
            return {self.api_key_header: str(self.token)}
        if self.kind == "basic":
            return {"Authorization": f"Basic {self._basic()}"}
        return {}

    def query(self) -> tuple[tuple[str, str], ...]:
        """Query parameters every request carries (an API key sent as a parameter)."""
        if self.kind == "api_key" and self.api_key_param is not None:
            return ((self.api_key_param, str(self.token)),)
        return ()

    def secrets(self) -> list[str]:
        found = [s for s in (self.token, self.password) if s]
        if self.kind == "basic":
            found.append(self._basic())
        return found

    def redact(self, text: str) -> str:
        for secret in self.secrets():
            text = text.replace(secret, REDACTED)
        return text
