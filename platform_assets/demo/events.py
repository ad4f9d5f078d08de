"""The demo company's shipment events: what the carrier integration pushes to the broker.

Each event has an id, a type, when it occurred, the order and a small payload. Knobs make
the stream realistic: a share of duplicate deliveries (the same message twice, as an
at-least-once producer sends after a timeout), late events (occurred days ago) and defects,
some of which cannot be landed at all (malformed JSON, no id: the consumer quarantines
them) and some of which land and are the events contract's to reject (a missing or
mistyped field).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EVENT_TYPES = ("label_created", "picked_up", "in_transit", "out_for_delivery", "delivered")
CARRIERS = ("ups", "dhl", "fedex", "postnl")
WAREHOUSES = ("ams-1", "fra-2", "lon-1")
POISON_DEFECTS = ("malformed_json", "no_id")  # the consumer quarantines these
FIELD_DEFECTS = ("missing_field", "mistyped_field")  # these land; the contract rejects them
DEFECTS = POISON_DEFECTS + FIELD_DEFECTS
RECENT_DUPLICATES = 256  # a duplicate repeats one of the last few messages


@dataclass(frozen=True)
class EventMix:
    count: int  # events (defective ones included); duplicates are extra messages
    duplicate_share: float = 0.0
    late_share: float = 0.0
    defect_share: float = 0.0
    late_days: int = 5  # a late event occurred 1..late_days days ago
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")
        for name in ("duplicate_share", "late_share", "defect_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.late_days < 1:
            raise ValueError(f"late_days must be >= 1, got {self.late_days}")


@dataclass(frozen=True)
class Message:
    body: bytes
    kind: str  # event | late | duplicate | one of DEFECTS
    event_id: str | None  # the id it lands under; None when it is poison

    @property
    def poison(self) -> bool:
        return self.event_id is None


def shipment_messages(mix: EventMix, now: datetime | None = None) -> Iterator[Message]:
    """The messages to publish, in order: ``mix.count`` events plus their duplicates."""
    rng = random.Random(mix.seed)
    now = now or datetime.now(UTC)
    recent: list[Message] = []
    for _ in range(mix.count):
        message = _message(rng, mix, now)
        yield message
        recent = [*recent[-(RECENT_DUPLICATES - 1) :], message]
        if rng.random() < mix.duplicate_share:
            again = rng.choice(recent)
            yield Message(again.body, "duplicate", again.event_id)


def _message(rng: random.Random, mix: EventMix, now: datetime) -> Message:
    late = rng.random() < mix.late_share
    ago = (
        timedelta(days=rng.uniform(1, mix.late_days))
        if late
        else timedelta(seconds=rng.uniform(0, 5))
    )
    event = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "type": rng.choice(EVENT_TYPES),
        "occurred_at": (now - ago).isoformat(timespec="milliseconds"),
        "order_id": rng.randrange(1, 10_000_000),
        "payload": {
            "carrier": rng.choice(CARRIERS),
            "warehouse": rng.choice(WAREHOUSES),
            "weight_kg": round(rng.uniform(0.1, 30.0), 2),
        },
    }
    if rng.random() < mix.defect_share:
        return _defective(rng, event)
    return Message(_encode(event), "late" if late else "event", event["event_id"])


def _defective(rng: random.Random, event: dict) -> Message:
    kind = rng.choice(DEFECTS)
    if kind == "malformed_json":
        return Message(_encode(event)[: rng.randrange(1, 40)], kind, None)
    if kind == "no_id":
        del event["event_id"]
        return Message(_encode(event), kind, None)
    if kind == "missing_field":
        del event[rng.choice(("type", "occurred_at", "order_id"))]
    else:
        field, wrong = rng.choice((("occurred_at", 1733000000), ("order_id", "not-a-number")))
        event[field] = wrong
    return Message(_encode(event), kind, event["event_id"])


def _encode(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
