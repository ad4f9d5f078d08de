"""What the consumer lands and what it quarantines: only the unlandable is poison."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from platform_assets.events.decode import Event, Poison, decode


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not UTF-8 text: invalid start byte at byte 0"),
        (b'{"event_id": "a\x00"}', "NUL character in the message"),
        (b'{"event_id": "a"', "malformed JSON: Input data was truncated"),
        (b"[1, 2]", "not a JSON object: a list"),
        (b'"text"', "not a JSON object: a str"),
        (b'{"type": "delivered"}', "no event_id"),
        (b'{"event_id": null}', "no event_id"),
        (b'{"event_id": 7}', "event_id is not a non-empty string: 7"),
        (b'{"event_id": "  "}', "event_id is not a non-empty string: '  '"),
        (b'{"event_id": "' + b"x" * 201 + b'"}', "event_id longer than 200 characters"),
    ],
)
def test_poison_with_reason(raw: bytes, reason: str) -> None:
    result = decode(raw)
    assert isinstance(result, Poison) and result.reason == reason
    assert "\x00" not in result.body  # PostgreSQL text cannot hold it


def test_events_land_as_received_even_with_mistyped_fields() -> None:
    raw = b'{"event_id": "e1", "occurred_at": "2026-03-10T12:00:00+01:00", "order_id": "x"}'
    assert decode(raw) == Event("e1", datetime(2026, 3, 10, 11, tzinfo=UTC), raw.decode())
    for occurred in (b"12345", b'"yesterday"', b'"2026-03-10T12:00:00"', b"null"):
        event = decode(b'{"event_id": "e2", "occurred_at": ' + occurred + b"}")
        assert isinstance(event, Event) and event.occurred_at is None  # the contract decides
