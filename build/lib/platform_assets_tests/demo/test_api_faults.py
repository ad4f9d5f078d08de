"""The demo API's fault knobs, new pagination styles and control endpoints, over real HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import pytest
import requests

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.faults import SERVER_ERRORS, Faults
from platform_assets.demo.generator import orders_for_day, payments_for_day
from platform_assets.demo.process import DemoApi

TOKEN = "fault-test-token"
DAY = "2026-11-20"
CFG = DemoConfig(orders_per_day=250)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def server() -> Iterator[DemoApi]:
    with DemoApi(CFG, TOKEN) as running:
        yield running


@pytest.fixture
def api(server: DemoApi) -> DemoApi:
    server.set_faults(Faults())
    return server


def get(api: DemoApi, path: str = "/v1/orders", timeout: float = 10, **params: object):
    return requests.get(
        f"{api.url}{path}", params={"date": DAY, **params}, headers=AUTH, timeout=timeout
    )


def test_server_errors_are_deterministic_per_seed(api: DemoApi) -> None:
    def statuses() -> list[int]:
        api.set_faults(Faults(seed=8, error_rate=0.5))
        return [get(api, offset=i % 3).status_code for i in range(12)]

    first = statuses()
    assert first == statuses()
    assert set(first) - {200} <= set(SERVER_ERRORS) and 200 in first and len(set(first)) > 1
    assert api.stats()["faults"]["error"] == sum(s != 200 for s in first)


@pytest.mark.parametrize("fmt", ["seconds", "date"])
def test_throttle_sends_retry_after(api: DemoApi, fmt: str) -> None:
    api.set_faults(Faults(throttle_rate=1.0, retry_after_s=7, retry_after_format=fmt))
    response = get(api)
    assert response.status_code == 429
    header = response.headers["Retry-After"]
    if fmt == "seconds":
        assert header == "7"
    else:
        delay = parsedate_to_datetime(header).timestamp() - time.time()
        assert 6 <= delay <= 8


def test_truncated_bodies_break_the_connection(api: DemoApi) -> None:
    api.set_faults(Faults(truncate_rate=1.0))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        get(api)


def test_garbled_bodies_are_complete_but_not_json(api: DemoApi) -> None:
    api.set_faults(Faults(garble_rate=1.0))
    response = get(api)
    assert response.status_code == 200
    assert len(response.content) == int(response.headers["Content-Length"])
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_slow_responses_outlast_a_short_timeout(api: DemoApi) -> None:
    api.set_faults(Faults(slow_rate=1.0, slow_s=1.0))
    with pytest.raises(requests.exceptions.ReadTimeout):
        get(api, timeout=0.2)


def test_latency_delays_every_answer(api: DemoApi) -> None:
    api.set_faults(Faults(latency_ms=300))
    started = time.monotonic()
    assert get(api).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_the_token_expires_after_n_requests(api: DemoApi) -> None:
    api.set_faults(Faults(token_ttl_requests=2))
    responses = [get(api) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 401]
    assert responses[2].json() == {"error": "token expired"}


def test_the_server_rate_limit_answers_429(api: DemoApi) -> None:
    api.set_faults(Faults(rate_limit_per_s=0.5, rate_limit_burst=2))
    responses = [get(api) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 429]
    assert int(responses[2].headers["Retry-After"]) >= 1
    assert api.stats()["faults"] == {"rate_limited": 1}


def test_faults_only_strike_the_api(api: DemoApi) -> None:
    api.set_faults(Faults(error_rate=1.0))
    assert requests.get(f"{api.url}/health", timeout=10).status_code == 200
    assert api.stats()["requests"] == 0


def test_control_and_stats_need_the_token_and_known_knobs(api: DemoApi) -> None:
    assert requests.get(f"{api.url}/_stats", timeout=10).status_code == 401
    bad = requests.post(
        f"{api.url}/_control", json={"faults": {"eror_rate": 1}}, headers=AUTH, timeout=10
    )
    assert bad.status_code == 400 and "eror_rate" in bad.json()["error"]
    assert requests.put(f"{api.url}/_control", headers=AUTH, timeout=10).status_code == 405


def test_faults_from_the_environment() -> None:
    assert Faults.from_env({"PLATFORM_DEMO_FAULTS": '{"error_rate": 0.25}'}).error_rate == 0.25
    with pytest.raises(ValueError, match="add up to more than 1"):
        Faults(error_rate=0.6, slow_rate=0.6)
    with pytest.raises(ValueError, match="PLATFORM_DEMO_FAULTS must be a JSON object"):
        Faults.from_env({"PLATFORM_DEMO_FAULTS": "error_rate=1"})


def test_faults_reach_the_child_process() -> None:
    with DemoApi(CFG, TOKEN, faults=Faults(token_ttl_requests=1)) as api:
        assert [get(api).status_code for _ in range(2)] == [200, 401]


def test_page_number_pagination_with_a_total_header(api: DemoApi) -> None:
    ids: list[int] = []
    for page in (1, 2, 3, 4):
        response = get(api, "/v1/orders-by-page", page=page, per_page=100)
        assert response.headers["X-Total-Count"] == "250"
        ids += [row["order_id"] for row in response.json()["data"]]
    assert ids == list(orders_for_day(dt.date.fromisoformat(DAY), CFG)["order_id"])


def test_link_header_pagination_with_a_bare_list(api: DemoApi) -> None:
    response = get(api, "/v1/payments-linked", limit=60)
    rows, pages = list(response.json()), 1
    while "next" in response.links:
        response = requests.get(response.links["next"]["url"], headers=AUTH, timeout=10)
        rows += response.json()
        pages += 1
    expected = payments_for_day(dt.date.fromisoformat(DAY), CFG)
    assert [r["payment_id"] for r in rows] == list(expected["payment_id"])
    assert pages == -(-len(expected) // 60)
    assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-Key": TOKEN},
        {"Authorization": "Basic " + base64.b64encode(f"demo:{TOKEN}".encode()).decode()},
    ],
)
def test_api_key_and_basic_auth_are_accepted(api: DemoApi, headers: dict) -> None:
    response = requests.get(
        f"{api.url}/v1/orders", params={"date": DAY}, headers=headers, timeout=10
    )
    assert response.status_code == 200


def test_echoed_credentials_only_when_asked(api: DemoApi) -> None:
    wrong = {"Authorization": "Bearer nope"}
    url = f"{api.url}/v1/orders"
    assert "nope" not in requests.get(url, headers=wrong, timeout=10).text
    api.set_faults(Faults(echo_credentials=True))
    assert "nope" in requests.get(url, headers=wrong, timeout=10).text
