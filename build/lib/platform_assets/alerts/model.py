"""What an alert says: enough for the person paged to act without opening five tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"warning": 1, "critical": 2}
Event = Literal["firing", "resolved"]

# Where each severity goes: warnings to chat, critical alerts page someone (and chat).
CHAT_SINKS = ("log", "slack")
PAGE_SINKS = ("log", "slack", "webhook", "email")


def sinks_for(severity: Severity) -> tuple[str, ...]:
    return PAGE_SINKS if severity == "critical" else CHAT_SINKS


@dataclass(frozen=True)
class Alert:
    """One breach. ``key`` identifies it: the same key is never announced twice while open."""

    key: str
    kind: str  # freshness | deadline | check | volume_anomaly | run_failure | drop_rejected
    severity: Severity
    title: str
    text: str  # what happened and what to do, in a few lines
    asset: str | None = None
    partition: str | None = None
    owner: str | None = None
    link: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notification:
    """One message to one sink: an alert firing (or escalating) or its recovery."""

    id: int
    alert_key: str
    event: Event
    sink: str
    payload: dict[str, Any]
    attempts: int = 0
    last_error: str | None = None
