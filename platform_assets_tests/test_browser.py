"""The browser fixture itself: a page rendered by the real Chromium."""

from __future__ import annotations


def test_chromium_renders_a_page(browser) -> None:
    page = browser.new_page()
    page.set_content("<main><h1>quality</h1></main>")
    assert page.inner_text("h1") == "quality"
