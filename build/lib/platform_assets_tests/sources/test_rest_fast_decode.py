"""The extractor given the contract's columns (fast decoding, sources/decode.py) against the
demo API process: the same rows as the generic path, the same faults retried, the same errors,
and drift still visible. Plus the read-ahead thread behind sequential pagination."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pandas as pd
import pytest

from platform_assets.contracts import contracts
from platform_assets.demo.faults import Faults
from platform_assets.demo.generator import orders_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.parallel import read_ahead
from platform_assets.sources.rest import (
    Endpoint,
    OffsetPagination,
    PermanentApiError,
    _decoder,
)
from platform_assets_tests.sources.conftest import CFG, DAY, client, collect
from platform_assets_tests.sources.test_rest_pagination import (
    ENDPOINTS,
    PARAMS,
    assert_same_rows,
    expected,
)

COLUMNS = {
    "offset": contracts()["orders"].column_names,
    "page_number": contracts()["orders"].column_names,
    "cursor": contracts()["payments"].column_names,
    "link_header": contracts()["payments"].column_names,  # a bare list: the generic path
}


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("style", list(ENDPOINTS))
def test_fast_decoding_returns_what_the_generic_path_returns(
    api: DemoApi, style: str, workers: int
) -> None:
    fast_path = _decoder(ENDPOINTS[style], COLUMNS[style]) is not None
    assert fast_path == (style != "link_header")  # a bare list has no envelope to split
    rest = client(api, max_workers=workers)
    fast = list(rest.pages(ENDPOINTS[style], PARAMS, columns=COLUMNS[style]))
    generic = collect(client(api).pages(ENDPOINTS[style], PARAMS))
    got = pd.concat(fast, ignore_index=True)
    assert_same_rows(got, expected(style))
    assert all(dtype.kind == "O" for frame in fast for dtype in frame.dtypes)
    assert got.where(got.notna(), None).to_dict("records") == generic.where(
        generic.notna(), None
    ).to_dict("records")


@pytest.mark.parametrize("fault", ["garble", "truncate"])
def test_unparseable_pages_are_retried_on_the_fast_path_too(api: DemoApi, fault: str) -> None:
    api.set_faults(Faults(seed=1, **{f"{fault}_rate": 0.4}))
    got = collect(client(api).pages(ENDPOINTS["offset"], PARAMS, columns=COLUMNS["offset"]))
    assert_same_rows(got, orders_for_day(DAY, CFG))
    assert api.stats()["faults"][fault] >= 1


def test_a_body_of_the_wrong_shape_fails_as_on_the_generic_path(api: DemoApi) -> None:
    endpoint = Endpoint("/v1/orders", OffsetPagination(), records="rows")
    messages = []
    for columns in (None, COLUMNS["offset"]):
        with pytest.raises(PermanentApiError) as failure:
            collect(client(api).pages(endpoint, PARAMS, columns=columns))
        messages.append(str(failure.value))
    assert messages[0] == messages[1] and "'rows'" in messages[0]


def test_records_that_drift_from_the_columns_keep_their_own_fields(api: DemoApi) -> None:
    """A contract that lost a column: the pages still arrive with every field they have."""
    columns = [c for c in COLUMNS["offset"] if c != "currency"]
    got = collect(client(api).pages(ENDPOINTS["offset"], PARAMS, columns=columns))
    assert "currency" in got.columns
    assert_same_rows(got, orders_for_day(DAY, CFG))


def test_sequential_pages_are_read_ahead_one_request_at_a_time(api: DemoApi) -> None:
    api.set_faults(Faults(latency_ms=20))
    rest = client(api, page_size=50, max_chunks_in_memory=2)  # 9 pages, fetched in sequence
    frames = rest.pages(ENDPOINTS["offset"], PARAMS, columns=COLUMNS["offset"])
    next(frames), next(frames)
    time.sleep(0.3)  # the consumer stalls: at most 2 pages wait, plus 1 being fetched
    assert api.stats()["requests"] <= 2 + 2 + 1
    frames.close()
    assert api.stats()["max_in_flight"] == 1
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_read_ahead_keeps_order_and_hands_errors_to_the_consumer() -> None:
    def produce() -> Iterator[int]:
        yield from range(5)
        raise ValueError("page 6 is broken")

    got = []
    with pytest.raises(ValueError, match="page 6 is broken"):
        for item in read_ahead(produce(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]


def test_read_ahead_closes_its_source_when_the_consumer_stops() -> None:
    closed = threading.Event()

    def produce() -> Iterator[int]:
        try:
            yield from range(1_000)
        finally:
            closed.set()

    items = read_ahead(produce(), depth=3)
    assert [next(items), next(items)] == [0, 1]
    items.close()
    assert closed.is_set()
