"""A message as received -> an event to land, or a poison message with its reason.

Only what makes a message impossible to land is poison: bytes that are not UTF-8 text,
not a JSON object, or no usable ``event_id``. Everything else lands as received, body and
all; a mistyped field is the events asset's contract's business (it quarantines that row
with its own reason), so the landing table keeps the evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

MAX_EVENT_ID_CHARS = 200


@dataclass(frozen=True)
class Event:
    event_id: str
    occurred_at: datetime | None  # None when absent, mistyped, or without a time zone
    body: str


@dataclass(frozen=True)
class Poison:
    reason: str
    body: str  # the message as text (undecodable bytes replaced), for a person to read


def decode(raw: bytes) -> Event | Poison:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Poison(f"not UTF-8 text: {exc.reason} at byte {exc.start}", _readable(raw))
    if "\x00" in text:  # PostgreSQL text cannot hold NUL; JSON never needs a raw one
        return Poison("NUL character in the message", text.replace("\x00", "\ufffd"))
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        return Poison(f"malformed JSON: {exc}", text)
    if not isinstance(doc, dict):
        return Poison(f"not a JSON object: a {type(doc).__name__}", text)
    event_id = doc.get("event_id")
    if event_id is None:
        return Poison("no event_id", text)
    if not isinstance(event_id, str) or not event_id.strip():
        return Poison(f"event_id is not a non-empty string: {event_id!r:.80}", text)
    if len(event_id) > MAX_EVENT_ID_CHARS:
        return Poison(f"event_id longer than {MAX_EVENT_ID_CHARS} characters", text)
    return Event(event_id, _timestamp(doc.get("occurred_at")), text)


def _timestamp(value: object) -> datetime | None:
    """An ISO 8601 instant with a zone, else None (the asset's contract names the defect)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def _readable(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
