"""Progress lines: pages, rows, rows/s and an ETA when the total is known, at a set cadence."""

from __future__ import annotations

from platform_assets.demo.process import DemoApi
from platform_assets.sources.progress import Progress
from platform_assets.sources.rest import Endpoint, OffsetPagination
from platform_assets_tests.sources.conftest import Recorder, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_every_five_seconds_with_rate_and_eta() -> None:
    log, clock = Recorder(), Clock()
    progress = Progress("orders", log, every_s=5.0, clock=clock)
    for _ in range(12):  # one 1,000-row page every 2 s, of 10,000 rows
        clock.now += 2.0
        progress.page(1000, total=10_000)
    progress.done()
    assert [msg for _, msg in log.lines] == [
        "orders: 3 pages, 3000 rows, 500 rows/s, 6.0 s, 30% of 10000, ETA 14 s",
        "orders: 6 pages, 6000 rows, 500 rows/s, 12.0 s, 60% of 10000, ETA 8 s",
        "orders: 9 pages, 9000 rows, 500 rows/s, 18.0 s, 90% of 10000, ETA 2 s",
        "orders: 12 pages, 12000 rows, 500 rows/s, 24.0 s, 120% of 10000, ETA 0 s",
        "orders: done, 12 pages, 12000 rows, 500 rows/s, 24.0 s",
    ]


def test_without_a_total_there_is_no_eta() -> None:
    log, clock = Recorder(), Clock()
    progress = Progress("payments", log, every_s=1000.0, every_pages=2, clock=clock)
    for _ in range(4):
        clock.now += 1.0
        progress.page(50)
    assert [msg for _, msg in log.lines] == [
        "payments: 2 pages, 100 rows, 50 rows/s, 2.0 s",
        "payments: 4 pages, 200 rows, 50 rows/s, 4.0 s",
    ]


def test_extractions_report_to_the_injected_log(api: DemoApi) -> None:
    log = Recorder()
    collect(client(api, progress_every_s=0.0).pages(ENDPOINTS["offset"], PARAMS, log=log))
    lines = [msg for level, msg in log.lines if level == "info"]
    assert len(lines) == 6  # one per page at this cadence, then the summary
    request = f"GET {api.url}/v1/orders?date=2026-03-10&offset=0&limit=100"
    assert lines[0].startswith(f"{request}: 1 pages, 100")
    assert "% of 450, ETA" in lines[0]
    assert lines[-1].startswith(f"{request}: done, 5 pages")


def test_an_unannounced_total_gives_no_eta(api: DemoApi) -> None:
    log = Recorder()
    endpoint = Endpoint("/v1/orders", OffsetPagination())
    collect(client(api, progress_every_s=0.0).pages(endpoint, PARAMS, log=log))
    assert not any("ETA" in msg for _, msg in log.lines)
