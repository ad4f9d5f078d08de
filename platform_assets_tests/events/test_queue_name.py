"""Which queue the consumer reads when none is named: the stream the project declares."""

import shutil
from pathlib import Path

import pytest

from platform_assets.contracts.loader import DEFS_DIR
from platform_assets.events.broker import declared_streams, events_queue, events_queues


def test_the_one_declared_stream_is_the_default_queue() -> None:
    assert declared_streams() == ["shipment_events"]
    assert events_queue({}) == "shipment_events"
    assert events_queue({"PLATFORM_EVENTS_QUEUE": "clicks"}) == "clicks"


def test_two_declared_streams_need_a_named_queue(tmp_path: Path) -> None:
    defs = tmp_path / "defs"
    shutil.copytree(DEFS_DIR / "shipment_events", defs / "shipment_events")
    clicks = defs / "clicks"
    shutil.copytree(DEFS_DIR / "shipment_events", clicks)
    contract = clicks / "shipment_events.yaml"
    text = contract.read_text().replace("table: shipment_events", "table: clicks")
    contract.write_text(text)

    assert declared_streams(defs) == ["clicks", "shipment_events"]
    assert events_queues({}, defs) == ["clicks", "shipment_events"]  # make run and make dev
    with pytest.raises(ValueError, match=r"2 event streams declared .*clicks, shipment_events"):
        events_queue({}, defs)
    assert events_queue({"PLATFORM_EVENTS_QUEUE": "clicks"}, defs) == "clicks"
    with pytest.raises(ValueError, match="0 event streams declared"):
        events_queue({}, tmp_path / "empty")
