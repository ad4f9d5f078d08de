"""Who gets an alert (owner -> route) and where in the UI to look (links)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

DEFAULT_ROUTE = "data-platform"
DEFAULT_UI_URL = "http://127.0.0.1:3000"
REPORT_URL_VARIABLE = "PLATFORM_REPORT_URL"


def parse_routes(raw: str) -> dict[str, str]:
    """PLATFORM_ALERT_ROUTES: a JSON object of contract owner -> route, e.g.
    ``{"team:finance": "finance"}``. Invalid JSON stops the code location from loading."""
    if not raw.strip():
        return {}
    try:
        routes = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"PLATFORM_ALERT_ROUTES is not valid JSON: {exc.msg}") from None
    if not isinstance(routes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in routes.items()
    ):
        raise ValueError('PLATFORM_ALERT_ROUTES must map owners to routes: {"team:x": "x"}')
    return routes


@dataclass(frozen=True)
class Router:
    routes: dict[str, str] = field(default_factory=dict)
    default: str = DEFAULT_ROUTE

    def route(self, owner: str | None) -> str:
        return self.routes.get(owner or "", self.default)


@dataclass(frozen=True)
class Links:
    """Deep links into the Dagster UI (PLATFORM_UI_URL)."""

    base_url: str = DEFAULT_UI_URL

    def _url(self, path: str, query: dict[str, str] | None = None) -> str:
        base = self.base_url.rstrip("/")
        return f"{base}{path}" + (f"?{urlencode(query)}" if query else "")

    def asset(self, asset: str, partition: str | None = None) -> str:
        path = "/assets/" + "/".join(quote(part, safe="") for part in asset.split("/"))
        if partition is None:
            return self._url(path)
        return self._url(path, {"view": "partitions", "partition": partition})

    def checks(self, asset: str) -> str:
        path = "/assets/" + "/".join(quote(part, safe="") for part in asset.split("/"))
        return self._url(path, {"view": "checks"})

    def run(self, run_id: str) -> str:
        return self._url(f"/runs/{quote(run_id, safe='')}")


def report_page(table: str) -> str:
    """A table's page in the quality report, relative to the report's folder."""
    return f"tables/{quote(table, safe='')}.html"


def report_link(table: str | None, env: Mapping[str, str] = os.environ) -> str | None:
    """The table's page in the published quality report, when PLATFORM_REPORT_URL says where
    the report is published; None otherwise (or for an alert about no table)."""
    base = env.get(REPORT_URL_VARIABLE, "").strip()
    if not base or not table:
        return None
    return f"{base.rstrip('/')}/{report_page(table)}"
