"""Faults injected by the demo API process: transient ones are absorbed, permanent ones are not.

Attempts are counted server-side (``/_stats``), so "one attempt" means one request arrived.
"""

from __future__ import annotations

import time

import pytest

from platform_assets.demo.faults import Faults
from platform_assets.demo.generator import orders_for_day, payments_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import (
    Endpoint,
    OffsetPagination,
    PermanentApiError,
    RetriesExhaustedError,
)
from platform_assets.sources.retry import is_transient_status
from platform_assets_tests.sources.conftest import CFG, DAY, Recorder, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS, assert_same_rows

TRANSIENT = {
    "error": Faults(seed=1, error_rate=0.4),
    "throttle": Faults(seed=1, throttle_rate=0.4, retry_after_s=0),
    "slow": Faults(seed=1, slow_rate=0.4, slow_s=1.0),
    "truncate": Faults(seed=1, truncate_rate=0.4),
    "garble": Faults(seed=1, garble_rate=0.4),
}


@pytest.mark.parametrize("kind", list(TRANSIENT))
def test_transient_faults_cost_retries_not_rows(api: DemoApi, kind: str) -> None:
    api.set_faults(TRANSIENT[kind])
    log = Recorder()
    rest = client(api, read_timeout_s=0.3)
    got = collect(rest.pages(ENDPOINTS["offset"], PARAMS, log=log))
    assert_same_rows(got, orders_for_day(DAY, CFG))
    stats = api.stats()
    faults = stats["faults"].get(kind, 0)
    assert faults >= 1, "the seed must inject this fault at least once"
    assert stats["requests"] == 5 + faults  # each fault cost exactly one extra attempt
    assert rest.retry_budget_state().used == faults
    assert sum(1 for level, _ in log.lines if level == "warning") == faults


def test_every_fault_at_once_in_parallel_slices(api: DemoApi) -> None:
    api.set_faults(
        Faults(
            seed=3,
            error_rate=0.1,
            throttle_rate=0.1,
            retry_after_s=0,
            slow_rate=0.1,
            slow_s=1.0,
            truncate_rate=0.1,
            garble_rate=0.1,
            latency_ms=5,
        )  # fmt: skip
    )
    rest = client(api, read_timeout_s=0.3, max_workers=3, retry_budget=100)
    for style in ("offset", "page_number", "cursor", "link_header"):
        want = orders_for_day(DAY, CFG) if "page" in style or style == "offset" else None
        got = collect(rest.pages(ENDPOINTS[style], PARAMS))
        assert_same_rows(got, want if want is not None else payments_for_day(DAY, CFG))
    assert sum(api.stats()["faults"].values()) >= 5


@pytest.mark.parametrize(
    ("endpoint", "params", "token", "status", "excerpt"),
    [
        (ENDPOINTS["offset"], {"date": "10/03/2026"}, None, 400, "parameter 'date'"),
        (Endpoint("/v1/refunds", OffsetPagination()), PARAMS, None, 404, "no such endpoint"),
        (ENDPOINTS["offset"], PARAMS, "not-the-token", 401, "invalid credentials"),
    ],
)
def test_permanent_failures_fail_in_one_attempt(
    api: DemoApi, endpoint: Endpoint, params: dict, token: str | None, status: int, excerpt: str
) -> None:
    rest = client(api, **({"token": token} if token else {}))
    with pytest.raises(PermanentApiError) as failure:
        collect(rest.pages(endpoint, params))
    message = str(failure.value)
    assert failure.value.status == status
    assert f"GET {api.url}{endpoint.path}?" in message and f"HTTP {status}" in message
    assert excerpt in message
    assert api.stats()["requests"] == 1


def test_an_expired_token_stops_the_extraction_at_once(api: DemoApi) -> None:
    api.set_faults(Faults(token_ttl_requests=2))
    with pytest.raises(PermanentApiError, match=r"offset=200&limit=100 -> HTTP 401.*token expired"):
        collect(client(api).pages(ENDPOINTS["offset"], PARAMS))
    assert api.stats()["requests"] == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 422])
def test_client_errors_are_permanent(status: int) -> None:
    assert not is_transient_status(status)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_overload_and_gateway_errors_are_transient(status: int) -> None:
    assert is_transient_status(status)


@pytest.mark.parametrize(("fmt", "seconds", "lower_bound"), [("seconds", 1, 1.0), ("date", 2, 1.9)])
def test_retry_after_is_honoured(api: DemoApi, fmt: str, seconds: int, lower_bound: float) -> None:
    # seed 5 throttles the first attempt and lets the second through (asserted below).
    api.set_faults(Faults(seed=5, throttle_rate=0.5, retry_after_s=seconds, retry_after_format=fmt))
    rest = client(api, page_size=1000)  # one page: the wait is all Retry-After
    started = time.monotonic()
    got = collect(rest.pages(ENDPOINTS["offset"], PARAMS))
    waited = time.monotonic() - started
    assert len(got) == len(orders_for_day(DAY, CFG))
    assert api.stats()["faults"] == {"throttle": 1}
    assert waited >= lower_bound  # lower bound only: a slow machine may wait longer


def test_a_retry_after_beyond_our_patience_fails_now(api: DemoApi) -> None:
    api.set_faults(Faults(throttle_rate=1.0, retry_after_s=3600))
    with pytest.raises(RetriesExhaustedError, match="retry after 3600 s, more than"):
        collect(client(api, max_retry_after_s=60).pages(ENDPOINTS["offset"], PARAMS))
    assert api.stats()["requests"] == 1


def test_attempts_per_request_are_capped(api: DemoApi) -> None:
    api.set_faults(Faults(error_rate=1.0))
    with pytest.raises(RetriesExhaustedError, match="gave up after 3 attempts; last: HTTP 50"):
        collect(client(api, max_attempts=3).pages(ENDPOINTS["offset"], PARAMS))
    assert api.stats()["requests"] == 3


def test_the_retry_budget_caps_retries_across_the_run(api: DemoApi) -> None:
    api.set_faults(Faults(seed=4, error_rate=0.5))
    rest = client(api, max_attempts=10, retry_budget=2)
    with pytest.raises(RetriesExhaustedError, match=r"retry budget \(2 retries\) is spent"):
        collect(rest.pages(ENDPOINTS["offset"], PARAMS))
        collect(rest.pages(ENDPOINTS["cursor"], PARAMS))  # same run: the budget is shared
    stats = api.stats()
    assert stats["faults"]["error"] == 3 and rest.retry_budget_state().used == 2
