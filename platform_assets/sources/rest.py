"""REST API extraction: any paginated JSON endpoint, streamed as DataFrame chunks.

What differs between endpoints is configuration (``pagination.Endpoint``); what every
extraction gets is the same: auth from EnvVars, per-request timeouts, retries of transient
faults only (``transport``), a client-side rate limit shared by every worker and process
(``ratelimit``), bounded parallel slices when the total is known (``parallel``), guards
against pagination that never ends, a permanent error when the pages do not add up to the
announced total (``TotalMismatchError``), and progress in the run log (``progress``).

Memory is bounded by the page size: one page becomes one chunk, and at most
``max_chunks_in_memory`` chunks wait for the loader. Sequential pages are read ahead on a
background thread (still one request at a time), so waiting for the API overlaps with the
validation and load of the pages before.

Given the record fields to expect (``columns``: the contract's), pages whose records sit in
a top-level field are decoded by ``decode.PageDecoder`` (msgspec, ~4x faster than stdlib
JSON into dicts); pages it does not expect take the generic path, which judges them as before.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field, PrivateAttr

from platform_assets.sources.auth import REDACTED, Auth
from platform_assets.sources.decode import DecodedPage, PageDecoder
from platform_assets.sources.pagination import (
    CursorPagination,
    Endpoint,
    LinkHeaderPagination,
    OffsetPagination,
    Page,
    PageNumberPagination,
    PageRequest,
    Pagination,
    ShapeError,
    as_params,
)
from platform_assets.sources.parallel import ordered_map, read_ahead
from platform_assets.sources.progress import DEFAULT_EVERY_S, Log, Progress, default_log
from platform_assets.sources.ratelimit import RateLimiter, rate_limiter
from platform_assets.sources.retry import RetryBudget
from platform_assets.sources.transport import (
    ApiError,
    PermanentApiError,
    RetriesExhaustedError,
    RetrySettings,
    Transport,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ApiError",
    "CursorPagination",
    "Endpoint",
    "LinkHeaderPagination",
    "OffsetPagination",
    "PageNumberPagination",
    "PaginationError",
    "PermanentApiError",
    "RestApi",
    "RetriesExhaustedError",
    "TotalMismatchError",
]

SECRET_FIELDS = ("token", "password")
_STATE_LOCK = threading.Lock()  # lazy per-run state: two threads must not build two budgets


class PaginationError(PermanentApiError):
    """The API's pagination does not end: a repeated cursor/link, or more than max_pages."""


class TotalMismatchError(PermanentApiError):
    """The pages held fewer (or more) rows than the API announced. A truncated export looks
    like a complete, smaller partition to every gate downstream; a re-run asks the same API
    the same question, so it is permanent (no step retries)."""

    def __init__(self, what: str, expected: int, received: int) -> None:
        side = "fewer" if received < expected else "more"
        super().__init__(
            f"{what}: the API announced {expected} rows, its pages held {received} "
            f"({abs(expected - received)} {side}); refusing an incomplete extraction"
        )
        self.expected = expected
        self.received = received


class RestApi(dg.ConfigurableResource):
    """An HTTP JSON API. Secrets (``token``, ``password``) only as ``dg.EnvVar``."""

    base_url: str
    auth: str = Field(default="bearer", description="bearer | api_key | basic | none")
    token: str | None = Field(default=None, description="Bearer token or API key (EnvVar).")
    api_key_header: str = "X-API-Key"
    api_key_param: str | None = Field(
        default=None, description="Send the API key as this query parameter, not a header."
    )
    username: str | None = None
    password: str | None = Field(default=None, description="Basic auth password (EnvVar).")
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    page_size: int = 1000
    max_attempts: int = Field(default=6, description="Attempts per request (1 = no retry).")
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0
    retry_budget: int = Field(default=50, description="Retries per run, across all requests.")
    rate_limit_per_s: float = Field(default=0.0, description="Client-side limit; 0 = none.")
    rate_limit_burst: int = 1
    rate_limit_store: str = Field(
        default="", description="'' (this process), a SQLite file, or a postgresql:// URL."
    )
    rate_limit_bucket: str = Field(default="", description="Shared bucket; default: host:port.")
    max_workers: int = Field(default=1, description="Parallel slices when the total is known.")
    max_chunks_in_memory: int = 4
    progress_every_s: float = DEFAULT_EVERY_S

    _budget: RetryBudget | None = PrivateAttr(default=None)
    _limiter: RateLimiter | None = PrivateAttr(default=None)

    def __repr_args__(self) -> Any:
        for name, value in super().__repr_args__():
            yield name, (REDACTED if name in SECRET_FIELDS and value else value)

    # --- per-run state (Dagster builds a fresh resource object for every run) -----------------

    def retry_budget_state(self) -> RetryBudget:
        """The retries left for this run, shared by every extraction that uses this resource."""
        with _STATE_LOCK:
            if self._budget is None:
                self._budget = RetryBudget(self.retry_budget)
            return self._budget

    def _rate_limiter(self) -> RateLimiter:
        with _STATE_LOCK:
            if self._limiter is None:
                bucket = self.rate_limit_bucket or urlsplit(self.base_url).netloc
                self._limiter = rate_limiter(
                    self.rate_limit_store, bucket, self.rate_limit_per_s, self.rate_limit_burst
                )
            return self._limiter

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._limiter is not None:
            self._limiter.close()

    def _transport(self, log: Log, decoder: PageDecoder | None = None) -> Transport:
        auth = Auth(
            self.auth,
            self.token,
            self.api_key_header,
            self.api_key_param,
            self.username,
            self.password,
        )
        retry = RetrySettings(
            self.max_attempts, self.backoff_base_s, self.backoff_max_s, self.max_retry_after_s
        )
        return Transport(
            self.base_url,
            auth,
            (self.connect_timeout_s, self.read_timeout_s),
            retry,
            self._rate_limiter(),
            self.retry_budget_state(),
            log,
            decoder=decoder,
        )

    # --- extraction ----------------------------------------------------------------------------

    def pages(
        self,
        endpoint: Endpoint,
        params: Mapping[str, Any] | None = None,
        log: Log | None = None,
        columns: Sequence[str] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Every record of ``endpoint`` for ``params`` (e.g. the partition's date), page by page.

        ``columns``: the fields every record should have (the contract's), for fast decoding.
        """
        log = log or default_log()
        transport = self._transport(log, _decoder(endpoint, columns))
        first = endpoint.pagination.first(
            endpoint.path, as_params(params or {}), endpoint.page_size or self.page_size
        )
        progress = Progress(transport.describe(first), log, every_s=self.progress_every_s)
        walk = self._walk(endpoint, first, transport)
        try:
            for page in walk:
                progress.page(len(page.rows), page.total)
                if page.rows:
                    yield _frame(page.rows)
        finally:
            walk.close()  # stops fetching threads before their sessions are closed
            transport.close()
            self._rate_limiter().close()
        progress.done()
        if progress.total is not None and progress.rows != progress.total:
            raise TotalMismatchError(transport.describe(first), progress.total, progress.rows)

    def _walk(self, endpoint: Endpoint, first: PageRequest, transport: Transport) -> Iterator[Page]:
        page = _fetch(endpoint, transport, first)
        yield page
        slices = endpoint.pagination.slices(page) if self.max_workers > 1 else None
        if slices is None:  # one request at a time, but overlapped with the consumer's work
            depth = self.max_chunks_in_memory
            yield from read_ahead(_sequential(endpoint, transport, page), depth)
            return
        window = max(self.max_chunks_in_memory, self.max_workers)
        yield from ordered_map(
            lambda request: _fetch(endpoint, transport, request), slices, self.max_workers, window
        )


def _decoder(endpoint: Endpoint, columns: Sequence[str] | None) -> PageDecoder | None:
    """The fast decoder, where it applies: known fields, records in a top-level field."""
    if not columns or endpoint.records is None or "." in endpoint.records:
        return None
    return PageDecoder(columns, records=endpoint.records)


class FrameRows(Sequence[dict[str, Any]]):
    """A fast-decoded page's records, kept as the frame they became; pagination only counts
    them (``Page.rows``), the extractor yields the frame as is."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: Any) -> Any:
        rows = self.frame.iloc[index]
        return rows.to_dict("records") if isinstance(index, slice) else rows.to_dict()


def _fetch(endpoint: Endpoint, transport: Transport, request: PageRequest) -> Page:
    response = transport.get(request)
    body = response.body
    rows: Sequence[dict[str, Any]]
    try:
        if isinstance(body, DecodedPage):  # records already a frame; body: the other fields
            rows, body = FrameRows(body.frame), body.body
        else:
            rows = endpoint.rows(body)
        total = endpoint.total(body, response.headers)
    except ShapeError as exc:
        raise PermanentApiError(
            f"{transport.describe(request)} -> HTTP {response.status}: the body breaks the "
            f"expected shape: {exc}",
            response.status,
        ) from None
    return Page(request, rows, body, response.headers, total)  # type: ignore[arg-type]


def _sequential(endpoint: Endpoint, transport: Transport, page: Page) -> Iterator[Page]:
    """Follow ``next`` until done, refusing to read the same page twice or to page forever."""
    pagination: Pagination = endpoint.pagination
    seen = {(page.request.url, page.request.params)}
    while True:
        try:
            request = pagination.next(page)
        except ShapeError as exc:
            raise PermanentApiError(f"{transport.describe(page.request)}: {exc}") from None
        if request is None:
            return
        key = (request.url, request.params)
        if key in seen:
            raise PaginationError(
                f"{transport.describe(page.request)}: the API's next page is one already read "
                f"({transport.describe(request)}); its cursor never ends"
            )
        if request.number > endpoint.max_pages:
            raise PaginationError(
                f"{transport.describe(request)}: more than max_pages={endpoint.max_pages} pages; "
                "the cursor never ends (raise max_pages if the data really is that large)"
            )
        seen.add(key)
        page = _fetch(endpoint, transport, request)
        yield page


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Object columns keep every value exactly as the API sent it, for quarantine records.

    Built as object columns from the start: ``from_records`` would first infer float64 for
    a numeric column with a null or a missing field, turning ids above 2**53 into other ids
    and -1 into -1.0 before any validation could see them."""
    if isinstance(rows, FrameRows):  # decoded that way already (decode.PageDecoder)
        return rows.frame
    import pandas as pd

    return pd.DataFrame(list(rows), dtype=object)
