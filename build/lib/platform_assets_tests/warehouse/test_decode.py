"""The fast page decoder (sources/decode.py) yields the frames the generic path yields."""

from __future__ import annotations

import json

import msgspec
import pandas as pd
import pytest

from platform_assets.demo.api import records
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import orders_for_day
from platform_assets.sources.decode import PageDecoder, PageShapeError
from platform_assets_tests.warehouse.dataset import DAY

COLUMNS = [
    "order_id",
    "customer_id",
    "order_ts",
    "order_date",
    "status",
    "amount_cents",
    "currency",
]


def generic(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows).astype(object)


def test_demo_page_decodes_to_the_generic_frame() -> None:
    rows = records(orders_for_day(DAY, DemoConfig(seed=3, orders_per_day=50, defect_rate=0.2)))
    body = json.dumps({"data": rows, "total": 50, "offset": 0}).encode()
    page = PageDecoder(COLUMNS).decode(body)
    assert page.body == {"total": 50, "offset": 0} and page.rows == 50
    expected = generic(rows)
    assert list(page.frame.dtypes) == [object] * len(COLUMNS)
    assert page.frame.where(page.frame.notna(), None).to_dict("records") == expected.where(
        expected.notna(), None
    ).to_dict("records")


@pytest.mark.parametrize(
    "rows",
    [
        [{"a": 1, "b": "x", "extra": True}],  # an unexpected key: drift must stay visible
        [{"a": 1}],  # a missing key
    ],
)
def test_records_that_drift_keep_every_key_as_sent(rows: list[dict]) -> None:
    frame = PageDecoder(["a", "b"]).decode(json.dumps({"data": rows}).encode()).frame
    pd.testing.assert_frame_equal(frame, generic(rows))


def test_values_keep_their_json_types() -> None:
    body = b'{"data": [{"a": 1, "b": null}, {"a": "2", "b": 1.5}, {"a": [1], "b": {"k": 1}}]}'
    frame = PageDecoder(["a", "b"]).decode(body).frame
    assert frame.to_dict("list") == {"a": [1, "2", [1]], "b": [None, 1.5, {"k": 1}]}


def test_wrong_shapes_fail_loudly() -> None:
    decoder = PageDecoder(["a"])
    with pytest.raises(PageShapeError, match="no 'data'"):
        decoder.decode(b'{"rows": []}')
    with pytest.raises(PageShapeError, match="JSON object"):
        decoder.decode(b"[1, 2]")
    with pytest.raises(PageShapeError, match="list of JSON objects"):
        decoder.decode(b'{"data": [1]}')
    with pytest.raises(msgspec.DecodeError):
        decoder.decode(b'{"data": [')
