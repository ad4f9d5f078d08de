"""The API as a real child process, exercised over HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from platform_assets.demo import process
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import orders_for_day, payments_for_day
from platform_assets.demo.process import DemoApi

TOKEN = "test-token-not-a-secret"
DAY = dt.date(2026, 11, 20)
CFG = DemoConfig(orders_per_day=250, defect_rate=0.05)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api() -> Iterator[DemoApi]:
    with DemoApi(CFG, TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def overlapping_api() -> Iterator[DemoApi]:
    with DemoApi(CFG, TOKEN, overlap_pages=True) as running:
        yield running


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers.update(AUTH)
        yield session


def _get(http: requests.Session, api: DemoApi, path: str, **params: object) -> requests.Response:
    return http.get(f"{api.url}{path}", params=params, timeout=30)


def _all_orders(http: requests.Session, api: DemoApi, limit: int) -> tuple[list[dict], int]:
    """Offset paging the way a naive client does it: advance by ``limit`` until ``total``."""
    rows: list[dict] = []
    offset, pages = 0, 0
    while True:
        response = _get(http, api, "/v1/orders", date=DAY.isoformat(), offset=offset, limit=limit)
        response.raise_for_status()
        body = response.json()
        assert (body["total"], body["offset"], body["limit"]) == (250, offset, limit)
        rows += body["data"]
        pages += 1
        offset += limit
        if offset >= body["total"]:
            return rows, pages


def _all_payments(http: requests.Session, api: DemoApi, limit: int) -> tuple[list[dict], int]:
    rows: list[dict] = []
    params: dict[str, object] = {"date": DAY.isoformat(), "limit": limit}
    pages = 0
    while True:
        response = _get(http, api, "/v1/payments", **params)
        response.raise_for_status()
        body = response.json()
        assert set(body) == {"data", "next_cursor"}
        rows += body["data"]
        pages += 1
        if body["next_cursor"] is None:
            return rows, pages
        params["cursor"] = body["next_cursor"]


def _assert_rows_equal(rows: list[dict], expected: pd.DataFrame) -> None:
    got = pd.DataFrame(rows, columns=list(expected.columns))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_health_needs_no_token(api: DemoApi) -> None:
    assert requests.get(f"{api.url}/health", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize("header", [None, "Bearer wrong", TOKEN, f"Basic {TOKEN}"])
@pytest.mark.parametrize("path", ["/v1/orders", "/v1/payments"])
def test_rejects_missing_or_wrong_token(api: DemoApi, path: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.get(
        f"{api.url}{path}", params={"date": DAY.isoformat()}, headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert "error" in response.json()


def test_offset_pagination_returns_the_generator_frame(
    api: DemoApi, http: requests.Session
) -> None:
    rows, pages = _all_orders(http, api, limit=100)
    assert pages == 3
    assert len({row["order_id"] for row in rows}) == len(rows) == 250
    _assert_rows_equal(rows, orders_for_day(DAY, CFG))
    assert any(row["customer_id"] is None for row in rows)  # null_customer defects -> null


def test_cursor_pagination_returns_the_generator_frame(
    api: DemoApi, http: requests.Session
) -> None:
    expected = payments_for_day(DAY, CFG)
    rows, pages = _all_payments(http, api, limit=50)
    assert pages == -(-len(expected) // 50)
    assert len({row["payment_id"] for row in rows}) == len(rows) == len(expected)
    _assert_rows_equal(rows, expected)


def test_overlap_pages_repeat_one_row_per_page(
    overlapping_api: DemoApi, http: requests.Session
) -> None:
    rows, pages = _all_orders(http, overlapping_api, limit=100)
    ids = [row["order_id"] for row in rows]
    assert len(ids) - len(set(ids)) == pages - 1 == 2
    assert set(ids) == set(orders_for_day(DAY, CFG)["order_id"])


def test_payments_are_not_affected_by_overlap(
    overlapping_api: DemoApi, http: requests.Session
) -> None:
    rows, _ = _all_payments(http, overlapping_api, limit=50)
    assert len({row["payment_id"] for row in rows}) == len(rows)


def _cursor(payload: bytes) -> str:
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "params", "names"),
    [
        ("/v1/orders", {}, "date"),
        ("/v1/orders", {"date": "2026-13-01"}, "date"),
        ("/v1/orders", {"date": "20261120"}, "date"),
        ("/v1/orders", {"date": "2026-11-20", "offset": "-1"}, "offset"),
        ("/v1/orders", {"date": "2026-11-20", "limit": "1001"}, "limit"),
        ("/v1/orders", {"date": "2026-11-20", "limit": "0"}, "limit"),
        ("/v1/orders", {"date": "2026-11-20", "limit": "ten"}, "limit"),
        ("/v1/payments", {"date": "nope"}, "date"),
        ("/v1/payments", {"date": "2026-11-20", "limit": "5000"}, "limit"),
        ("/v1/payments", {"date": "2026-11-20", "cursor": "%%%"}, "cursor"),
        ("/v1/payments", {"date": "2026-11-20", "cursor": _cursor(b"[1, 2]")}, "cursor"),
        ("/v1/payments", {"cursor": _cursor(b'{"date": "x", "after": 1}')}, "cursor"),
        (
            "/v1/payments",
            {"date": "2026-11-21", "cursor": _cursor(b'{"date": "2026-11-20", "after": 1}')},
            "cursor",
        ),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    api: DemoApi, http: requests.Session, path: str, params: dict, names: str
) -> None:
    response = _get(http, api, path, **params)
    assert response.status_code == 400
    assert f"'{names}'" in response.json()["error"]


def test_unknown_path_is_404_json(api: DemoApi, http: requests.Session) -> None:
    response = _get(http, api, "/v1/refunds")
    assert response.status_code == 404
    assert "error" in response.json()


def test_offset_past_the_end_is_empty(api: DemoApi, http: requests.Session) -> None:
    body = _get(http, api, "/v1/orders", date=DAY.isoformat(), offset=10_000).json()
    assert body["data"] == [] and body["total"] == 250


def _gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_stop_leaves_no_process_and_is_idempotent() -> None:
    api = DemoApi(CFG, TOKEN).start()
    pid = api.pid
    assert pid is not None and not _gone(pid)
    api.stop()
    api.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert _gone(pid)


def test_stop_escalates_to_sigkill(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that cannot act on SIGTERM (here: stopped) is killed instead of hanging stop()."""
    monkeypatch.setattr(process, "STOP_TIMEOUT_S", 0.5)
    api = DemoApi(CFG, TOKEN).start()
    pid = api.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    api.stop()
    assert _gone(pid)


def test_start_failure_reports_child_stderr() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        api = DemoApi(CFG, TOKEN, port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match="Address already in use"):
            api.start()
    assert api.pid is None
