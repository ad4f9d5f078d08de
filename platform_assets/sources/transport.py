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

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    import requests
    from requests.structures import CaseInsensitiveDict

BODY_EXCERPT_CHARS = 300


def transient_errors() -> tuple[type[Exception], ...]:
    """requests' faults worth a retry (requests is imported by the first request, not with
    the code location)."""
    import requests

    return (
        requests.exceptions.ConnectionError,  # refused, reset, DNS; includes ConnectTimeout
        requests.exceptions.Timeout,  # read timeout
        requests.exceptions.ChunkedEncodingError,  # body cut off mid-way
        requests.exceptions.ContentDecodingError,
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
    headers: CaseInsensitiveDict
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
    """GETs for one extraction run; one ``requests.Session`` per worker thread."""

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
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
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
        import requests

        url = self._url(request)
        self._limiter.acquire()
        try:
            response = self._session().get(
                url,
                params=request.params + self._auth.query(),
                headers=self._auth.headers(),
                timeout=self._timeouts,
                allow_redirects=False,  # a redirect could carry an API-key header elsewhere
            )
        except requests.exceptions.SSLError as exc:
            raise PermanentApiError(f"{what}: TLS failure: {self._excerpt(str(exc))}") from None
        except transient_errors() as exc:
            raise _Transient(f"{type(exc).__name__}: {self._excerpt(str(exc))}") from None
        return self._classify(response, what)

    def _classify(self, response: requests.Response, what: str) -> Response:
        status = response.status_code
        if 200 <= status < 300:
            return Response(status, response.headers, self._body(response))
        excerpt = self._excerpt(response.text)
        if is_transient_status(status):
            header = response.headers.get("Retry-After")
            retry_after = parse_retry_after(header)
            note = "" if header is None or retry_after is not None else " (bad Retry-After)"
            raise _Transient(f"HTTP {status}{note}: {excerpt}", retry_after)
        raise PermanentApiError(
            f"{what} -> HTTP {status} (permanent, not retried): {excerpt}", status
        )

    def _body(self, response: requests.Response) -> Any:
        """The decoded body: a ``DecodedPage`` from the fast decoder when it applies, else
        the generic JSON value. Anything the fast path does not expect (malformed JSON, NaN
        tokens, huge numbers, a body of another shape) is decoded the generic way instead,
        which judges it exactly as before: unparseable is transient, a wrong shape permanent
        (``rest._fetch``)."""
        if self._decoder is not None:
            try:
                return self._decoder.decode(response.content)
            except (msgspec.DecodeError, PageShapeError):
                pass  # not a silent fallback: the generic path below reports what is wrong
        try:
            return response.json()
        except ValueError:
            excerpt = self._excerpt(response.text)
            raise _Transient(
                f"HTTP {response.status_code} with an unparseable body: {excerpt}"
            ) from None

    def _excerpt(self, text: str) -> str:
        """One line of at most BODY_EXCERPT_CHARS; redacted before it is cut, so a secret on
        the boundary cannot leave half of itself behind."""
        one_line = " ".join(text[: BODY_EXCERPT_CHARS * 4].split())
        return self._auth.redact(one_line)[:BODY_EXCERPT_CHARS]

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            _pin_environment(session, self._base_url)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


def _pin_environment(session: requests.Session, url: str) -> None:
    """Read what requests takes from the environment (proxies and NO_PROXY, the CA bundle,
    ~/.netrc credentials) once per session instead of on every request, where it costs a
    scan of os.environ and file lookups (~0.3 ms a page). Same settings: a transport only
    ever talks to one origin (``Transport._url``), and they depend on nothing else."""
    import requests

    settings = session.merge_environment_settings(url, {}, None, None, None)

    netrc = requests.utils.get_netrc_auth(url)
    session.trust_env = False
    session.proxies = settings["proxies"]
    session.verify = settings["verify"]
    if netrc is not None:  # requests would have used it for every request without auth=
        session.auth = netrc


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
