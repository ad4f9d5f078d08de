"""The report in a real headless Chromium, opened from disk: nothing leaves file://."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets_tests.report.conftest import FAILED_DAY, Built

# The shared fixture runs the daily job three times: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.timeout(900)


def test_report_opens_from_disk_and_shows_the_failed_gate(built: Built, browser, tmp_path) -> None:
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    failed_requests: list[str] = []
    page.on("requestfailed", lambda request: failed_requests.append(request.url))

    page.goto((built.folder / "index.html").as_uri())
    assert page.locator("#overview tbody tr").count() == 12
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
    page.click('#overview a:text-is("marketing_spend")')
    page.wait_for_load_state()
    assert page.url.endswith("/tables/marketing_spend.html")

    cell = page.locator(
        f'#check-grid td[data-check="quarantine_rate"][data-partition="{FAILED_DAY}"]'
    )
    assert cell.get_attribute("data-outcome") == "failed"
    assert "failed" in (cell.get_attribute("class") or "").split()
    assert "2 of 5 rows quarantined" in (cell.get_attribute("title") or "")
    background = cell.evaluate("td => getComputedStyle(td).backgroundColor")
    assert background == "rgb(254, 226, 226)"  # the failed colour, not the passed green
    assert page.locator("#volume-chart svg").count() == 1  # the chart is inline SVG
    page.screenshot(path=str(tmp_path / "table.png"), full_page=True)

    cell.locator("a").click()
    page.wait_for_load_state()
    assert page.locator("#check-outcome").inner_text() == "failed"
    assert "2 of 5 rows quarantined" in page.locator("#check-description").inner_text()

    assert Path(tmp_path / "overview.png").stat().st_size > 10_000
    assert requests, "the page loads must have been recorded"
    assert [url for url in requests if not url.startswith("file://")] == []
    assert failed_requests == []
