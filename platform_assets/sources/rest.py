"""REST API extraction: pages streamed as DataFrame chunks, never a whole day in memory.

The token is a secret: it only ever travels in the Authorization header, and errors quote
the endpoint, status and a short excerpt of the body, never the request headers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
import pandas as pd
import requests
from pydantic import Field

BODY_EXCERPT_CHARS = 300


class ApiError(RuntimeError):
    """The API answered with an error or a body that breaks the expected shape."""


class RestApi(dg.ConfigurableResource):
    """An HTTP JSON API behind a bearer token."""

    base_url: str
    token: str = Field(description="Bearer token; pass it as dg.EnvVar, never inline.")
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    page_size: int = 1000

    def _get(self, session: requests.Session, path: str, params: Mapping[str, Any]) -> dict:
        url = self.base_url.rstrip("/") + path
        response = session.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=(self.connect_timeout_s, self.read_timeout_s),
        )
        if response.status_code != 200:
            raise ApiError(
                f"GET {path} {dict(params)} -> HTTP {response.status_code}: "
                f"{response.text[:BODY_EXCERPT_CHARS]!r}"
            )
        try:
            body = response.json()
        except ValueError as exc:
            raise ApiError(
                f"GET {path} {dict(params)} -> unparseable JSON body: "
                f"{response.text[:BODY_EXCERPT_CHARS]!r}"
            ) from exc
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise ApiError(f"GET {path} {dict(params)} -> body has no 'data' list")
        return body

    def offset_pages(self, path: str, params: Mapping[str, Any]) -> Iterator[pd.DataFrame]:
        """Offset/limit pagination; stops on a short or empty page or at the total."""
        page_size = self.page_size
        offset = 0
        with requests.Session() as session:
            while True:
                body = self._get(session, path, {**params, "offset": offset, "limit": page_size})
                rows = body["data"]
                if rows:
                    yield _frame(rows)
                offset += len(rows)
                total = body.get("total")
                if len(rows) < page_size or (total is not None and offset >= total):
                    return

    def cursor_pages(
        self, path: str, params: Mapping[str, Any], max_pages: int = 100_000
    ) -> Iterator[pd.DataFrame]:
        """Cursor pagination; stops when the API returns no next cursor."""
        page_size = self.page_size
        cursor: str | None = None
        with requests.Session() as session:
            for _ in range(max_pages):
                page_params = {**params, "limit": page_size}
                if cursor:
                    page_params["cursor"] = cursor
                body = self._get(session, path, page_params)
                if body["data"]:
                    yield _frame(body["data"])
                next_cursor = body.get("next_cursor")
                if not next_cursor:
                    return
                if next_cursor == cursor:
                    raise ApiError(f"GET {path}: the API returned the same cursor twice")
                cursor = next_cursor
        raise ApiError(f"GET {path}: more than {max_pages} pages; the cursor never ends")


def _frame(rows: list[dict]) -> pd.DataFrame:
    """Object columns keep every value exactly as the API sent it, for quarantine records."""
    return pd.DataFrame.from_records(rows).astype(object)
