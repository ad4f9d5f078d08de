"""Endpoints and the pagination styles of real APIs, as configuration instead of code.

An ``Endpoint`` says where the records are and how to get the next page; the extractor
(``rest.RestApi.pages``) does the rest: retries, rate limit, progress and the guards against
pagination that never ends. Every style stops on an empty page; where the API announces a
total (a body field or a header), offset and page-number paging trust the total over the page
length (a server that caps ``limit`` returns short pages that are not the last one).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Params = tuple[tuple[str, str], ...]


class ShapeError(ValueError):
    """The response breaks the shape the endpoint is configured for (permanent)."""


def as_params(values: Mapping[str, Any]) -> Params:
    """Query parameters as a hashable, ordered tuple (urlencoded as they are)."""
    return tuple((str(k), str(v)) for k, v in values.items())


def with_params(params: Params, **changes: Any) -> Params:
    updated = dict(params)
    updated.update({k: str(v) for k, v in changes.items()})
    return tuple(updated.items())


@dataclass(frozen=True)
class PageRequest:
    """One GET: a path under the base URL (or an absolute URL from a Link header)."""

    url: str
    params: Params
    rows_before: int = 0  # rows already extracted before this page
    number: int = 1  # 1-based ordinal of the page in the extraction


@dataclass(frozen=True)
class Page:
    request: PageRequest
    rows: list[dict[str, Any]]
    body: Any
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    total: int | None

    @property
    def rows_after(self) -> int:
        return self.request.rows_before + len(self.rows)


def _next(page: Page, url: str, params: Params) -> PageRequest:
    return PageRequest(url, params, page.rows_after, page.request.number + 1)


class Pagination:
    """How to ask for the first page and derive the next one (None: the extraction is done)."""

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        raise NotImplementedError

    def next(self, page: Page) -> PageRequest | None:
        raise NotImplementedError

    def slices(self, first: Page) -> Iterator[PageRequest] | None:
        """The remaining pages as independent requests, when they can be fetched in parallel
        (the total is known and pages are addressable); None when paging is sequential."""
        return None


@dataclass(frozen=True)
class OffsetPagination(Pagination):
    offset_param: str = "offset"
    limit_param: str = "limit"

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        return PageRequest(
            path, with_params(params, **{self.offset_param: 0, self.limit_param: page_size})
        )

    def next(self, page: Page) -> PageRequest | None:
        rows, request = len(page.rows), page.request
        if rows == 0:
            return None
        offset = int(dict(request.params)[self.offset_param]) + rows
        if page.total is not None:
            if offset >= page.total:
                return None
        elif rows < int(dict(request.params)[self.limit_param]):
            return None
        return _next(page, request.url, with_params(request.params, **{self.offset_param: offset}))

    def slices(self, first: Page) -> Iterator[PageRequest] | None:
        step = len(first.rows)
        if first.total is None or step == 0:
            return None
        request = first.request
        offsets = range(step, first.total, step)
        return (
            PageRequest(
                request.url,
                with_params(request.params, **{self.offset_param: o, self.limit_param: step}),
                o,
                number,
            )
            for number, o in enumerate(offsets, start=2)
        )


@dataclass(frozen=True)
class PageNumberPagination(Pagination):
    page_param: str = "page"
    size_param: str | None = "per_page"  # None: the API sets the page size itself
    first_page: int = 1

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        first = with_params(params, **{self.page_param: self.first_page})
        return PageRequest(path, _with_size(first, self.size_param, page_size))

    def next(self, page: Page) -> PageRequest | None:
        rows, request = len(page.rows), page.request
        if rows == 0:
            return None
        if page.total is not None:
            if page.rows_after >= page.total:
                return None
        elif self.size_param and rows < int(dict(request.params)[self.size_param]):
            return None
        number = int(dict(request.params)[self.page_param]) + 1
        return _next(page, request.url, with_params(request.params, **{self.page_param: number}))

    def slices(self, first: Page) -> Iterator[PageRequest] | None:
        per_page = len(first.rows)
        if first.total is None or per_page == 0:
            return None
        request = first.request
        last = self.first_page + math.ceil(first.total / per_page) - 1
        return (
            PageRequest(
                request.url,
                with_params(request.params, **{self.page_param: n}),
                (n - self.first_page) * per_page,
                n - self.first_page + 1,
            )
            for n in range(self.first_page + 1, last + 1)
        )


def _with_size(params: Params, size_param: str | None, page_size: int) -> Params:
    """The page size as a parameter, unless the API takes none (``size_param`` None)."""
    return with_params(params, **{size_param: page_size}) if size_param else params


@dataclass(frozen=True)
class CursorPagination(Pagination):
    """The next cursor travels in the body (``cursor_field``, a dotted path) or in a response
    header (``cursor_header``); null, empty or absent ends it."""

    cursor_field: str | None = "next_cursor"
    cursor_param: str = "cursor"
    limit_param: str | None = "limit"
    cursor_header: str | None = None

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        return PageRequest(path, _with_size(params, self.limit_param, page_size))

    def next(self, page: Page) -> PageRequest | None:
        if not page.rows:
            return None
        if self.cursor_header is not None:
            cursor = page.headers.get(self.cursor_header)
            where = f"header {self.cursor_header!r}"
        else:
            cursor = dig(page.body, self.cursor_field or "")
            where = f"field {self.cursor_field!r}"
        if cursor is None or cursor == "":
            return None
        if not isinstance(cursor, str | int):
            raise ShapeError(f"cursor {where} is {type(cursor).__name__}")
        request = page.request
        return _next(page, request.url, with_params(request.params, **{self.cursor_param: cursor}))


@dataclass(frozen=True)
class LinkHeaderPagination(Pagination):
    """The next page's URL travels in ``Link: <url>; rel="next"`` (RFC 8288). The first
    request carries the table's params (e.g. ``page: 1``); later ones follow the link."""

    rel: str = "next"
    limit_param: str | None = "limit"

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        return PageRequest(path, _with_size(params, self.limit_param, page_size))

    def next(self, page: Page) -> PageRequest | None:
        if not page.rows:
            return None
        header = page.headers.get("Link")
        if not header:
            return None
        from requests.utils import parse_header_links

        for link in parse_header_links(header):
            if self.rel in link.get("rel", "").split():
                return _next(page, link["url"], ())
        return None


@dataclass(frozen=True)
class JsonLinkPagination(Pagination):
    """The next page's URL travels in the body (``next_url_field``, a dotted path)."""

    next_url_field: str = "next"
    limit_param: str | None = "limit"

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        return PageRequest(path, _with_size(params, self.limit_param, page_size))

    def next(self, page: Page) -> PageRequest | None:
        if not page.rows:
            return None
        url = dig(page.body, self.next_url_field)
        if url is None or url == "":
            return None
        if not isinstance(url, str):
            raise ShapeError(f"next-page field {self.next_url_field!r} is {type(url).__name__}")
        return _next(page, url, ())


@dataclass(frozen=True)
class SinglePage(Pagination):
    """The whole collection in one response."""

    def first(self, path: str, params: Params, page_size: int) -> PageRequest:
        return PageRequest(path, params)

    def next(self, page: Page) -> PageRequest | None:
        return None


@dataclass(frozen=True)
class Endpoint:
    """One collection of records: where it is and how it pages.

    ``records``: dotted path of the list of records in the body (None: the body is the list).
    ``total_field``/``total_header``: where the API announces the total, if it does (progress
    gets an ETA and offset/page paging can run in parallel slices).
    ``max_pages``: the guard against a cursor that never ends.
    """

    path: str
    pagination: Pagination = field(default_factory=OffsetPagination)
    records: str | None = "data"
    total_field: str | None = None
    total_header: str | None = None
    page_size: int | None = None
    max_pages: int = 100_000

    def with_max_pages(self, max_pages: int) -> Endpoint:
        return replace(self, max_pages=max_pages)

    def rows(self, body: Any) -> list[dict[str, Any]]:
        rows = body if self.records is None else dig(body, self.records)
        if not isinstance(rows, list):
            where = "the body" if self.records is None else f"field {self.records!r}"
            raise ShapeError(f"expected a list of records in {where}, got {type(rows).__name__}")
        if not all(isinstance(row, dict) for row in rows):
            raise ShapeError("expected every record to be a JSON object")
        return rows

    def total(self, body: Any, headers: Mapping[str, str]) -> int | None:
        if self.total_header is not None and headers.get(self.total_header) is not None:
            raw: Any = headers[self.total_header]
            where = f"header {self.total_header!r}"
        elif self.total_field is not None and dig(body, self.total_field) is not None:
            raw = dig(body, self.total_field)
            where = f"field {self.total_field!r}"
        else:
            return None
        try:
            total = int(raw)
        except (TypeError, ValueError) as exc:
            raise ShapeError(f"total in {where} is not an integer: {str(raw)[:50]!r}") from exc
        if total < 0 or isinstance(raw, bool | float):
            raise ShapeError(f"total in {where} is not a non-negative integer: {raw!r}")
        return total


def dig(body: Any, dotted: str) -> Any:
    """``body["a"]["b"]`` for ``"a.b"``; None where a level is missing."""
    value = body
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value
