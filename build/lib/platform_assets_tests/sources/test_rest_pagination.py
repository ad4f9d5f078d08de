"""Every pagination style against the demo API process: exactly the generator's rows, in order."""

from __future__ import annotations

import math
import time

import pandas as pd
import pytest

from platform_assets.demo.faults import Faults
from platform_assets.demo.generator import orders_for_day, payments_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import (
    CursorPagination,
    Endpoint,
    LinkHeaderPagination,
    OffsetPagination,
    PageNumberPagination,
    PaginationError,
    PermanentApiError,
)
from platform_assets_tests.sources.conftest import CFG, DAY, client, collect

ENDPOINTS = {
    "offset": Endpoint("/v1/orders", OffsetPagination(), total_field="total"),
    "page_number": Endpoint(
        "/v1/orders-by-page", PageNumberPagination(), total_header="X-Total-Count"
    ),
    "cursor": Endpoint("/v1/payments", CursorPagination(cursor_field="next_cursor")),
    "link_header": Endpoint(
        "/v1/payments-linked", LinkHeaderPagination(), records=None, total_header="X-Total-Count"
    ),
}
PARAMS = {"date": DAY.isoformat()}


def expected(style: str) -> pd.DataFrame:
    return (
        orders_for_day(DAY, CFG)
        if style in ("offset", "page_number")
        else payments_for_day(DAY, CFG)
    )


def assert_same_rows(got: pd.DataFrame, want: pd.DataFrame) -> None:
    key = want.columns[0]
    assert got[key].is_unique
    pd.testing.assert_frame_equal(
        got[list(want.columns)].reset_index(drop=True),
        want.reset_index(drop=True),
        check_dtype=False,
    )


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("style", list(ENDPOINTS))
def test_every_style_returns_exactly_the_source_rows(
    api: DemoApi, style: str, workers: int
) -> None:
    want = expected(style)
    got = collect(client(api, max_workers=workers).pages(ENDPOINTS[style], PARAMS))
    assert_same_rows(got, want)
    # One request per page, no probing past the end: the total or the cursor says when to stop.
    assert api.stats()["requests"] == math.ceil(len(want) / 100)


def test_without_a_total_a_short_page_is_the_last(api: DemoApi) -> None:
    endpoint = Endpoint("/v1/orders", OffsetPagination())  # ignores the body's total
    got = collect(client(api).pages(endpoint, PARAMS))
    assert_same_rows(got, orders_for_day(DAY, CFG))
    assert len(orders_for_day(DAY, CFG)) % 100 != 0  # so the last page is short
    assert api.stats()["requests"] == 5


def test_parallel_slices_never_exceed_the_worker_limit(api: DemoApi) -> None:
    api.set_faults(Faults(latency_ms=40))  # so slices really overlap
    got = collect(client(api, page_size=50, max_workers=3).pages(ENDPOINTS["offset"], PARAMS))
    assert_same_rows(got, orders_for_day(DAY, CFG))
    stats = api.stats()
    assert stats["requests"] == 9
    assert stats["max_in_flight"] <= 3


def test_a_stalled_consumer_stops_the_fetching(api: DemoApi) -> None:
    """Backpressure: with 2 chunks allowed in memory, fetching waits for the loader."""
    rest = client(api, page_size=50, max_workers=2, max_chunks_in_memory=2)
    frames = rest.pages(ENDPOINTS["offset"], PARAMS)
    next(frames), next(frames)
    time.sleep(0.3)  # whatever could still be fetched would be by now
    # The first page, plus the consumed slice, plus at most 2 waiting: never all 9 pages.
    assert api.stats()["requests"] <= 4
    frames.close()


def test_a_repeated_cursor_is_refused(api: DemoApi) -> None:
    api.set_faults(Faults(endless_cursor="repeat"))
    with pytest.raises(PaginationError, match="one already read"):
        collect(client(api).pages(ENDPOINTS["cursor"], PARAMS))
    assert api.stats()["requests"] == 2


def test_a_cursor_that_never_ends_stops_at_max_pages(api: DemoApi) -> None:
    api.set_faults(Faults(endless_cursor="fresh"))
    endpoint = ENDPOINTS["cursor"].with_max_pages(7)
    with pytest.raises(PaginationError, match="more than max_pages=7"):
        collect(client(api).pages(endpoint, PARAMS))
    assert api.stats()["requests"] == 7


def test_a_body_of_the_wrong_shape_fails_at_once(api: DemoApi) -> None:
    endpoint = Endpoint("/v1/orders", OffsetPagination(), records="rows")
    with pytest.raises(PermanentApiError, match=r"/v1/orders.*HTTP 200.*'rows'"):
        collect(client(api).pages(endpoint, PARAMS))
    assert api.stats()["requests"] == 1
