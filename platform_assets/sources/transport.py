"""One GET against the API, retried when (and only when) the fault is transient.

Transient: connection errors, timeouts, cut-off or unparseable bodies, 408/425/429/5xx.
They are retried with exponential backoff and full jitter, never sooner than the server's
``Retry-After``, within the attempts per request and the retry budget of the run.
Permanent: every other status (400, 401, 403, 404, 422, ...), a redirect, a TLS failure.
They fail at once, in one attempt, naming the request, the status and a body excerpt.
Secrets never appear in those messages: they are built from the URL actually requested
(``describe``: its password, the API-key parameter and any token shown as ``***``) and the
(redacted) body, never from the request headers.
"""

from __future__ import annotations

import email.message
import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import msgspec

from platform_assets.redaction import REDACTED, redact, without_password
from platform_assets.sources.auth import Auth
from platform_assets.sources.decode import PageDecoder, PageShapeError
from platform_assets.sources.pagination import PageRequest
from platform_assets.sources.progress import Log
from platform_assets.sources.ratelimit import RateLimiter
from platform_assets.sources.retry import (
    RetryBudget,
    backoff_delay,
    is_transient_status,
    parse_retry_after,
)

if TYPE_CHECKING:
    import urllib3

BODY_EXCERPT_CHARS = 300
POOL_CONNECTIONS = 8  # kept open per host; parallel slices beyond it open short-lived ones


def transient_errors() -> tuple[type[Exception], ...]:
    """urllib3's faults worth a retry (imported by the first request, not with the code
    location): what requests calls ConnectionError, Timeout, ChunkedEncodingError and
    ContentDecodingError."""
    from urllib3 import exceptions

    return (
        exceptions.NewConnectionError,  # refused, DNS (a subclass of ConnectTimeoutError)
        exceptions.TimeoutError,  # connect and read timeouts
        exceptions.ProtocolError,  # reset, or the body cut off mid-way
        exceptions.ProxyError,
        exceptions.DecodeError,  # a compressed body that does not decompress
    )


class ApiError(RuntimeError):
    """The API could not be read; the message names the request and never a secret."""


class PermanentApiError(ApiError):
    """A fault that retrying cannot fix (bad request, refused token, broken shape)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetriesExhaustedError(ApiError):
    """A transient fault outlasted the attempts per request, the budget or our patience."""


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 120.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: Any


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def describe(request: PageRequest, base_url: str = "", auth: Auth | None = None) -> str:
    """``GET https://api.example.com/v2/tickets?day=...&offset=...&api_key=***``: what every
    message about a request starts with. The URL actually requested (the base URL's own path
    included, so ``/v2`` vs ``/v1`` is visible), never its credentials: the userinfo password,
    the API-key parameter and any token or password of ``auth`` read ``***``."""
    url = request.url if "://" in request.url else base_url.rstrip("/") + request.url
    hidden = tuple((name, REDACTED) for name, _ in auth.query()) if auth else ()
    query = urlencode(request.params + hidden, safe="*")
    text = f"GET {without_password(url)}{'?' + query if query else ''}"
    return redact(text, auth.secrets()) if auth else text


class Transport:
    """GETs for one extraction run, through one urllib3 pool shared by the worker threads.

    urllib3 rather than requests (which is built on it): requests spent about 1.1 ms of CPU
    per 1,000-row page here against 0.4 ms, on the thread that also decodes the pages. What
    requests took from the environment is taken once per transport, the same way
    (``_environment``): proxies and NO_PROXY, the CA bundle, netrc and URL credentials.
    """

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        timeouts: tuple[float, float],
        retry: RetrySettings,
        limiter: RateLimiter,
        budget: RetryBudget,
        log: Log,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        decoder: PageDecoder | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._origin = _origin(base_url)
        self._auth = auth
        self._timeouts = timeouts
        self._retry = retry
        self._limiter = limiter
        self._budget = budget
        self._log = log
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._decoder = decoder  # fast JSON decoding of record pages (sources/decode.py)
        self._pool: urllib3.PoolManager | None = None
        self._headers: dict[str, str] = {}
        self._lock = threading.Lock()

    def describe(self, request: PageRequest) -> str:
        """The URL this transport requests for ``request``, fit for a message (no secret)."""
        return describe(request, self._base_url, self._auth)

    def get(self, request: PageRequest) -> Response:
        what = self.describe(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(request, what)
            except _Transient as fault:
                self._before_retry(what, fault, attempt)

    def _before_retry(self, what: str, fault: _Transient, attempt: int) -> None:
        """Sleep before the next attempt, or raise when retrying must stop."""
        retry = self._retry
        if attempt >= retry.max_attempts:
            raise RetriesExhaustedError(
                f"{what}: gave up after {attempt} attempts; last: {fault.reason}"
            ) from fault
        delay = backoff_delay(attempt - 1, retry.backoff_base_s, retry.backoff_max_s, self._rng)
        if fault.retry_after is not None:
            if fault.retry_after > retry.max_retry_after_s:
                raise RetriesExhaustedError(
                    f"{what}: the API asks to retry after {fault.retry_after:.0f} s, more than "
                    f"max_retry_after_s={retry.max_retry_after_s:g}; last: {fault.reason}"
                ) from fault
            delay = max(delay, fault.retry_after)
        if not self._budget.spend():
            raise RetriesExhaustedError(
                f"{what}: the run's retry budget ({self._budget.total} retries) is spent; "
                f"last: {fault.reason}"
            ) from fault
        self._log.warning(
            f"{what}: {fault.reason}; retry {attempt}/{retry.max_attempts - 1} in {delay:.2f} s"
        )
        self._sleep(delay)

    def _url(self, request: PageRequest) -> str:
        if "://" not in request.url:
            return self._base_url + request.url
        if _origin(request.url) != self._origin:
            # A Link header may point anywhere; credentials only ever go to the configured API.
            raise PermanentApiError(
                f"{self.describe(request)}: next-page link leaves {self._origin}; not following it"
            )
        return request.url

    def _attempt(self, request: PageRequest, what: str) -> Response:
        from urllib3 import Timeout, exceptions

        url = _with_query(self._url(request), request.params + self._auth.query())
        pool, headers = self._client()
        self._limiter.acquire()
        connect_s, read_s = self._timeouts
        try:
            reply = pool.request(
                "GET",
                url,
                headers=headers,
                timeout=Timeout(connect=connect_s, read=read_s),
                redirect=False,  # a redirect could carry an API-key header elsewhere
                retries=False,  # retried here, by fault kind (transient or permanent)
            )
        except exceptions.SSLError as exc:
            raise PermanentApiError(f"{what}: TLS failure: {self._excerpt(str(exc))}") from None
        except transient_errors() as exc:
            raise _Transient(f"{type(exc).__name__}: {self._excerpt(str(exc))}") from None
        return self._classify(reply, what)

    def _classify(self, reply: urllib3.BaseHTTPResponse, what: str) -> Response:
        status = reply.status
        if 200 <= status < 300:
            return Response(status, reply.headers, self._body(reply))
        excerpt = self._excerpt(_text(reply))
        if is_transient_status(status):
            header = reply.headers.get("Retry-After")
            retry_after = parse_retry_after(header)
            note = "" if header is None or retry_after is not None else " (bad Retry-After)"
            raise _Transient(f"HTTP {status}{note}: {excerpt}", retry_after)
        raise PermanentApiError(
            f"{what} -> HTTP {status} (permanent, not retried): {excerpt}", status
        )

    def _body(self, reply: urllib3.BaseHTTPResponse) -> Any:
        """The decoded body: a ``DecodedPage`` from the fast decoder when it applies, else
        the generic JSON value. Anything the fast path does not expect (malformed JSON, NaN
        tokens, huge numbers, a body of another shape) is decoded the generic way instead,
        which judges it exactly as before: unparseable is transient, a wrong shape permanent
        (``rest._fetch``)."""
        if self._decoder is not None:
            try:
                return self._decoder.decode(reply.data)
            except (msgspec.DecodeError, PageShapeError):
                pass  # not a silent fallback: the generic path below reports what is wrong
        charset = _charset(reply)
        try:  # json reads UTF-8, -16 and -32 bytes; a declared charset is decoded first
            return json.loads(reply.data.decode(charset) if charset else reply.data)
        except (ValueError, LookupError):  # JSONDecodeError, UnicodeDecodeError, bad charset
            excerpt = self._excerpt(_text(reply))
            raise _Transient(f"HTTP {reply.status} with an unparseable body: {excerpt}") from None

    def _excerpt(self, text: str) -> str:
        """One line of at most BODY_EXCERPT_CHARS; redacted before it is cut, so a secret on
        the boundary cannot leave half of itself behind."""
        one_line = " ".join(text[: BODY_EXCERPT_CHARS * 4].split())
        return self._auth.redact(one_line)[:BODY_EXCERPT_CHARS]

    def _client(self) -> tuple[urllib3.PoolManager, dict[str, str]]:
        """The pool and the headers of every request, built at the first request.

        Credentials from netrc or the URL's userinfo are used only where no auth is
        configured (requests let a netrc entry replace a configured bearer token), and as
        ``basic`` auth, so every message hides them like any configured secret."""
        with self._lock:
            if self._pool is None:
                self._pool, login = _environment(self._base_url)
                if login is not None and self._auth.kind == "none":
                    user, password = login
                    self._auth = replace(self._auth, kind="basic", username=user, password=password)
                self._headers = {**_default_headers(), **self._auth.headers()}
            return self._pool, self._headers

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.clear()
                self._pool = None


def _default_headers() -> dict[str, str]:
    """What requests sends with every request (User-Agent, Accept, gzip): APIs see the
    same client as before."""
    from requests.utils import default_headers

    return dict(default_headers())


def _environment(url: str) -> tuple[urllib3.PoolManager, tuple[str, str] | None]:
    """A pool configured from the environment as requests would configure a session for
    ``url`` (a transport only ever talks to one origin, ``Transport._url``): the proxy for
    its scheme unless NO_PROXY names the host, the CA bundle (REQUESTS_CA_BUNDLE or
    CURL_CA_BUNDLE, else certifi's); and the login for it in ~/.netrc (NETRC) or, failing
    that, in the URL's userinfo."""
    import certifi
    import urllib3
    from requests.utils import get_auth_from_url, get_environ_proxies, get_netrc_auth, select_proxy

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    bundle = bundle or certifi.where()
    where = {"ca_cert_dir": bundle} if os.path.isdir(bundle) else {"ca_certs": bundle}
    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", **where}
    options: dict[str, Any] = {"maxsize": POOL_CONNECTIONS, "block": False, **tls}
    proxy = select_proxy(url, get_environ_proxies(url))
    if proxy is None:
        pool: urllib3.PoolManager = urllib3.PoolManager(**options)
    else:
        user, password = get_auth_from_url(proxy)
        proxy_auth = urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else {}
        pool = urllib3.ProxyManager(proxy, proxy_headers=proxy_auth, **options)
    login = get_netrc_auth(url) or get_auth_from_url(url)
    return pool, (login[0], login[1]) if all(login) else None


def _with_query(url: str, params: tuple[tuple[str, str], ...]) -> str:
    """The URL with the parameters appended to any query it has (a next-page link's)."""
    if not params:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def _charset(reply: urllib3.BaseHTTPResponse) -> str | None:
    """The body's charset, when its Content-Type declares one."""
    message = email.message.Message()
    message["content-type"] = reply.headers.get("Content-Type", "")
    return message.get_param("charset")  # type: ignore[return-value]


def _text(reply: urllib3.BaseHTTPResponse) -> str:
    """The body as text for a message: its declared charset, else UTF-8; never fails."""
    try:
        return reply.data.decode(_charset(reply) or "utf-8", errors="replace")
    except LookupError:  # an unknown charset
        return reply.data.decode("utf-8", errors="replace")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
