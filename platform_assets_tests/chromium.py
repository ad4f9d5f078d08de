"""Debian's Chromium as the browser tests and the screenshot scripts launch it.

Playwright's own browser download cannot work here; the flags keep Chromium off the network
(no updates, sync or background requests), so a page's own requests are the only ones.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MISSING = "Chromium not found: apt-get install -y chromium (or set PLATFORM_CHROMIUM)"


def chromium_executable() -> str | None:
    """PLATFORM_CHROMIUM, else ``chromium`` on the PATH; None when neither is there."""
    return os.environ.get("PLATFORM_CHROMIUM") or shutil.which("chromium")
