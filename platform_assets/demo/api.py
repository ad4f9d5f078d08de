"""The demo HTTP JSON API: a stdlib server that serves generator frames page by page.

It runs as its own process (see ``process.DemoApi``) so that ingestion code talks to it exactly
as it would to a real vendor API: over a socket, with a bearer token and pagination.

Endpoints (all but ``/health`` need the token: ``Authorization: Bearer <token>``, an
``X-API-Key: <token>`` header, or Basic auth as ``demo:<token>``), one per pagination style a
vendor API may use:

* ``GET /health`` -> ``{"status": "ok"}``
* ``GET /v1/orders?date=YYYY-MM-DD&offset=0&limit=100`` (offset/limit, total in the body)
  -> ``{"data": [...], "total": N, "offset": o, "limit": l}``
* ``GET /v1/orders-by-page?date=YYYY-MM-DD&page=1&per_page=100`` (page number, total in the
  ``X-Total-Count`` header) -> ``{"data": [...], "page": p, "per_page": n}``
* ``GET /v1/payments?date=YYYY-MM-DD&limit=100&cursor=...`` (cursor in the body)
  -> ``{"data": [...], "next_cursor": "..." | null}``
* ``GET /v1/payments-linked?date=YYYY-MM-DD&limit=100`` (``Link: <...>; rel="next"`` header,
  ``X-Total-Count`` header) -> ``[...]`` (a bare list, as GitHub-style APIs answer)
* ``GET /_stats`` -> server-side counters (requests, statuses, faults, peak concurrency)
* ``POST /_control`` with ``{"faults": {...}}`` -> replace the fault knobs, reset the counters

Errors are JSON ``{"error": "..."}`` with status 400, 401, 404, 405, 429 or 5xx. Faults
(``faults.Faults``) only ever strike ``/v1/*``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import math
import re
import signal
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import msgspec
import pandas as pd

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.encoding import EncodedRows
from platform_assets.demo.encoding import records as records  # re-exported: tests build pages
from platform_assets.demo.faults import Fault, FaultPlan, Faults, Stats, TokenBucket
from platform_assets.demo.generator import generate

logger = logging.getLogger(__name__)

BASIC_USER = "demo"
API_KEY_HEADER = "X-API-Key"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CACHE_SIZE = 8
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Params = dict[str, list[str]]


class ApiError(Exception):
    """A client error that becomes a JSON error response with ``status``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class FrameCache:
    """Thread-safe LRU of generated frames, so paging through a day generates it once; each
    with its rows' JSON, encoded as pages ask for them (``encoding.EncodedRows``)."""

    def __init__(self, cfg: DemoConfig, size: int = CACHE_SIZE) -> None:
        self._cfg = cfg
        self._size = size
        self._frames: OrderedDict[tuple[str, dt.date], tuple[pd.DataFrame, EncodedRows]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, table: str, day: dt.date) -> pd.DataFrame:
        return self._entry(table, day)[0]

    def rows(self, table: str, day: dt.date, start: int, stop: int) -> msgspec.Raw:
        """The JSON array of ``get(table, day).iloc[start:stop]``'s rows, as ``json.dumps``
        would write it (``encoding``)."""
        return self._entry(table, day)[1].page(start, stop)

    def _entry(self, table: str, day: dt.date) -> tuple[pd.DataFrame, EncodedRows]:
        # Generating under the lock keeps concurrent first requests from doing the work twice.
        with self._lock:
            key = (table, day)
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
            frame = generate(table, day, self._cfg)
            self._frames[key] = (frame, EncodedRows(frame))
            if len(self._frames) > self._size:
                self._frames.popitem(last=False)
            return self._frames[key]


# --- parameters -----------------------------------------------------------------------------


def _single(params: Params, name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"parameter '{name}' given more than once")
    return values[0]


def parse_day(raw: str | None, name: str = "date") -> dt.date:
    """Strict ``YYYY-MM-DD`` (``date.fromisoformat`` alone would also accept ``20261120``)."""
    if raw is None or not _DATE_RE.match(raw):
        raise ApiError(400, f"parameter '{name}' must be a date like 2026-11-20")
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(400, f"parameter '{name}' is not a valid date: {raw!r}") from exc


def _int_param(params: Params, name: str, default: int, low: int, high: int | None) -> int:
    raw = _single(params, name)
    if raw is None:
        return default
    bounds = f">= {low}" if high is None else f"between {low} and {high}"
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"parameter '{name}' must be an integer {bounds}") from exc
    if value < low or (high is not None and value > high):
        raise ApiError(400, f"parameter '{name}' must be an integer {bounds}, got {value}")
    return value


def _limit(params: Params) -> int:
    return _int_param(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)


# --- cursors --------------------------------------------------------------------------------


def encode_cursor(day: dt.date, after_id: int) -> str:
    """Opaque keyset cursor: urlsafe base64 of the day and the last id already returned."""
    payload = json.dumps({"date": day.isoformat(), "after": after_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.date, int]:
    """Inverse of ``encode_cursor``; anything that is not one of ours is a 400."""
    malformed = ApiError(400, "parameter 'cursor' is malformed")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise malformed from exc
    if not isinstance(payload, dict) or set(payload) != {"date", "after"}:
        raise malformed
    after = payload["after"]
    if (
        not isinstance(after, int)
        or isinstance(after, bool)
        or not isinstance(payload["date"], str)
    ):
        raise malformed
    try:
        day = parse_day(payload["date"])
    except ApiError as exc:
        raise malformed from exc
    return day, after


# --- endpoints ------------------------------------------------------------------------------


@dataclass
class Reply:
    """A successful answer: the JSON body and any extra headers (totals, links)."""

    body: object
    headers: dict[str, str] = field(default_factory=dict)


def announced(total: int, skew: int) -> int:
    """The total the API claims (``Faults.total_skew``): wrong on purpose, never negative."""
    return max(total + skew, 0)


def orders_page(cache: FrameCache, params: Params, overlap_pages: bool, skew: int = 0) -> Reply:
    """Offset pagination. With ``overlap_pages`` every page after the first starts with the last
    row of the previous page (the classic shifting-offset duplicate); ``total`` is unchanged."""
    day = parse_day(_single(params, "date"))
    offset = _int_param(params, "offset", 0, 0, None)
    limit = _limit(params)
    total = len(cache.get("orders", day))
    start = offset - 1 if overlap_pages and 0 < offset < total else offset
    rows = cache.rows("orders", day, start, offset + limit)
    body = {"data": rows, "total": announced(total, skew), "offset": offset, "limit": limit}
    return Reply(body)


def orders_by_page(cache: FrameCache, params: Params, skew: int = 0) -> Reply:
    """Page-number pagination (1-based); the total travels in the ``X-Total-Count`` header."""
    day = parse_day(_single(params, "date"))
    page_number = _int_param(params, "page", 1, 1, None)
    per_page = _int_param(params, "per_page", DEFAULT_LIMIT, 1, MAX_LIMIT)
    total = len(cache.get("orders", day))
    start = (page_number - 1) * per_page
    rows = cache.rows("orders", day, start, start + per_page)
    body = {"data": rows, "page": page_number, "per_page": per_page}
    return Reply(body, {"X-Total-Count": str(announced(total, skew))})


def _payments_slice(
    cache: FrameCache, params: Params, endless: str
) -> tuple[dt.date, msgspec.Raw, str | None, int]:
    """Keyset pagination by payment_id: (day, page rows, next cursor, total rows of the day).

    ``endless`` breaks the cursor on purpose: ``repeat`` hands back the cursor it was given,
    ``fresh`` treats the cursor as a position that wraps around and never ends.
    """
    raw_day = _single(params, "date")
    cursor = _single(params, "cursor")
    limit = _limit(params)
    after: int | None = None
    if cursor is None:
        day = parse_day(raw_day)
    else:
        day, after = decode_cursor(cursor)
        if raw_day is not None and parse_day(raw_day) != day:
            raise ApiError(400, "parameter 'cursor' belongs to a different date")
    frame = cache.get("payments", day)
    if endless == "fresh":
        position = after or 0
        start = position % max(len(frame), 1)
        return (
            day,
            cache.rows("payments", day, start, start + limit),
            encode_cursor(day, position + limit),
            len(frame),
        )
    ids = frame["payment_id"].to_numpy()
    start = 0 if after is None else int(ids.searchsorted(after, side="right"))
    page = cache.rows("payments", day, start, start + limit)
    more = start + limit < len(frame)
    next_cursor = encode_cursor(day, int(ids[start + limit - 1])) if more else None
    if endless == "repeat" and cursor is not None:
        next_cursor = cursor
    return day, page, next_cursor, len(frame)


def payments_page(cache: FrameCache, params: Params, endless: str = "") -> Reply:
    """Cursor in the body; ``date`` may be omitted when a cursor is given."""
    _, page, next_cursor, _ = _payments_slice(cache, params, endless)
    return Reply({"data": page, "next_cursor": next_cursor})


def payments_linked(cache: FrameCache, params: Params, base_url: str, skew: int = 0) -> Reply:
    """Link-header pagination: a bare list body, the next page's URL in ``Link: rel="next"``."""
    day, page, next_cursor, total = _payments_slice(cache, params, "")
    headers = {"X-Total-Count": str(announced(total, skew))}
    if next_cursor is not None:
        query = f"date={day.isoformat()}&limit={_limit(params)}&cursor={next_cursor}"
        headers["Link"] = f'<{base_url}/v1/payments-linked?{query}>; rel="next"'
    return Reply(page, headers)


# --- server state ---------------------------------------------------------------------------


class ApiState:
    """Everything a ``POST /_control`` replaces at once: the knobs and their counters."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.plan = FaultPlan(faults)
        self.stats = Stats()
        self.bucket = (
            TokenBucket(faults.rate_limit_per_s, faults.rate_limit_burst)
            if faults.rate_limit_per_s
            else None
        )
        self._authorized = 0
        self._lock = threading.Lock()

    def token_expired(self) -> bool:
        """Counts authorized requests; the token expires after ``token_ttl_requests`` of them."""
        with self._lock:
            self._authorized += 1
            ttl = self.faults.token_ttl_requests
            return bool(ttl) and self._authorized > ttl


def retry_after_value(faults: Faults) -> str:
    """``Retry-After`` as delta-seconds or as an HTTP-date rounded up (never shorter)."""
    if faults.retry_after_format == "seconds":
        return str(faults.retry_after_s)
    return formatdate(math.ceil(time.time() + faults.retry_after_s), usegmt=True)


# --- HTTP plumbing --------------------------------------------------------------------------


class DemoServer(ThreadingHTTPServer):
    """Threading server carrying the API's state; daemon threads so shutdown never waits."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        cfg: DemoConfig,
        token: str,
        overlap_pages: bool,
        faults: Faults,
    ) -> None:
        super().__init__(address, DemoHandler)
        self.cache = FrameCache(cfg)
        self.token = token
        self.overlap_pages = overlap_pages
        self.state = ApiState(faults)


CLIENT_GONE = (BrokenPipeError, ConnectionResetError)
MAX_CONTROL_BODY = 64 * 1024


class DemoHandler(BaseHTTPRequestHandler):
    """Routes requests; keep-alive (HTTP/1.1) so paging clients reuse one connection."""

    protocol_version = "HTTP/1.1"
    server: DemoServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        try:
            if url.path.startswith("/v1/"):
                self._serve_api(url.path, params)
            else:
                self._send_json(200, self._route_plain(url.path))
        except ApiError as exc:
            self._send_error(exc)
        except CLIENT_GONE:
            self.close_connection = True  # the client timed out and left: nothing to answer
        except Exception:
            # Request boundary: log the traceback, answer 500 instead of dropping the socket.
            logger.exception("unhandled error serving %s", url.path)
            self._send_json(500, {"error": "internal server error"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/_control":
            self._reject_method()
            return
        try:
            self._authorize()
            faults = Faults.from_mapping(self._read_json().get("faults", {}))
        except ApiError as exc:
            self._send_error(exc)
            return
        except (ValueError, TypeError) as exc:
            self._send_error(ApiError(400, f"bad fault knobs: {exc}"))
            return
        self.server.state = ApiState(faults)
        self._send_json(200, {"faults": faults.to_dict()})

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_CONTROL_BODY:
            self.close_connection = True
            raise ApiError(413, "control body too large")
        body = json.loads(self.rfile.read(length) or b"{}")
        if not isinstance(body, dict):
            raise ApiError(400, "control body must be a JSON object")
        return body

    def _reject_method(self) -> None:
        self.close_connection = True  # the unread request body must not poison keep-alive
        self._send_json(405, {"error": f"method {self.command} not allowed"}, {"Allow": "GET"})

    do_PUT = do_PATCH = do_DELETE = _reject_method

    def _route_plain(self, path: str) -> dict[str, Any]:
        if path == "/health":
            return {"status": "ok"}
        if path == "/_stats":
            self._authorize()
            return self.server.state.stats.snapshot()
        raise ApiError(404, f"no such endpoint: {path}")

    def _serve_api(self, path: str, params: Params) -> None:
        state = self.server.state  # one consistent state even if /_control swaps it meanwhile
        state.stats.started(path)
        status = 500
        try:
            status = self._answer_api(state, path, params)
        except ApiError as exc:
            status = exc.status
            raise
        except CLIENT_GONE:
            status = 499  # nginx's "client closed request": it timed out before the answer
            raise
        finally:
            state.stats.finished(status)

    def _answer_api(self, state: ApiState, path: str, params: Params) -> int:
        faults = state.faults
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if state.bucket is not None:
            wait = state.bucket.take()
            if wait:
                state.stats.fault("rate_limited")
                retry_after = {"Retry-After": str(max(1, math.ceil(wait)))}
                raise ApiError(429, "rate limit exceeded", retry_after)
        handler = self._handler(path, params, faults)
        self._authorize()
        if state.token_expired():
            raise ApiError(401, "token expired")
        fault = state.plan.draw(self.path)
        if fault is not None:
            state.stats.fault(fault.kind)
            return self._inject(fault, faults, handler)
        reply = handler()
        self._send_json(200, reply.body, reply.headers)
        return 200

    def _handler(self, path: str, params: Params, faults: Faults) -> Callable[[], Reply]:
        cache = self.server.cache
        host, port = self.server.server_address[:2]
        base_url = f"http://{self.headers.get('Host') or f'{host}:{port}'}"
        skew = faults.total_skew
        handlers: dict[str, Callable[[], Reply]] = {
            "/v1/orders": lambda: orders_page(cache, params, self.server.overlap_pages, skew),
            "/v1/orders-by-page": lambda: orders_by_page(cache, params, skew),
            "/v1/payments": lambda: payments_page(cache, params, faults.endless_cursor),
            "/v1/payments-linked": lambda: payments_linked(cache, params, base_url, skew),
        }
        if path not in handlers:
            raise ApiError(404, f"no such endpoint: {path}")
        return handlers[path]

    def _inject(self, fault: Fault, faults: Faults, handler: Callable[[], Reply]) -> int:
        """Misbehave as told; returns the status the client was (about to be) sent."""
        if fault.kind == "error":
            raise ApiError(fault.status, f"injected server error {fault.status}")
        if fault.kind == "throttle":
            raise ApiError(429, "injected throttle", {"Retry-After": retry_after_value(faults)})
        reply = handler()
        if fault.kind == "slow":
            time.sleep(faults.slow_s)
            self._send_json(200, reply.body, reply.headers)
            return 200
        payload = _json_bytes(reply.body)
        cut = payload[: len(payload) // 2]
        if fault.kind == "truncate":  # declare the whole body, send half, hang up
            self._send_raw(200, cut, reply.headers, content_length=len(payload))
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            return 200
        self._send_raw(200, cut, reply.headers)  # "garble": a consistent but unparseable body
        return 200

    def _authorize(self) -> None:
        """The token as ``Bearer <token>``, ``X-API-Key: <token>`` or Basic ``demo:<token>``."""
        given = self._credential()
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            echo = f": {given!r}" if self.server.state.faults.echo_credentials else ""
            raise ApiError(401, f"invalid credentials{echo}")

    def _credential(self) -> str:
        header = self.headers.get("Authorization") or ""
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ")
        if header.startswith("Basic "):
            try:
                user, _, password = (
                    base64.b64decode(header[6:], validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise ApiError(401, "malformed basic credentials") from exc
            if user != BASIC_USER:
                raise ApiError(401, "invalid credentials")
            return password
        api_key = self.headers.get(API_KEY_HEADER)
        if api_key is not None:
            return api_key
        raise ApiError(401, "missing credentials")

    def _send_error(self, exc: ApiError) -> None:
        headers = dict(exc.headers)
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        self._send_json(exc.status, {"error": exc.message}, headers)

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, _json_bytes(body), headers)

    def _send_raw(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header(
            "Content-Length", str(len(payload) if content_length is None else content_length)
        )
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access logging is off: request lines carry query strings, headers carry the token."""

    def log_error(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"demo-api: {format % args}\n")


def _json_bytes(body: object) -> bytes:
    """Compact JSON; rows already encoded (a ``msgspec.Raw``, see ``encoding``) go in as is."""
    if isinstance(body, msgspec.Raw):
        return bytes(body)
    if isinstance(body, dict) and any(isinstance(v, msgspec.Raw) for v in body.values()):
        # Only our own envelopes hold Raw rows; their other fields are ASCII ints/cursors,
        # which msgspec writes exactly as json.dumps does.
        return msgspec.json.encode(body)
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def make_server(
    host: str,
    port: int,
    cfg: DemoConfig,
    token: str,
    overlap_pages: bool = False,
    faults: Faults | None = None,
) -> DemoServer:
    """Bind (port 0 picks a free port) without serving yet; faults default to the environment."""
    if not token:
        raise ValueError("the API token must not be empty")
    return DemoServer((host, port), cfg, token, overlap_pages, faults or Faults.from_env())


def serve(server: DemoServer, out: TextIO = sys.stdout) -> None:
    """Announce ``READY <url>`` and serve until SIGTERM or SIGINT, then shut down cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Installing a handler also overrides an inherited SIG_IGN, so stop() always works.
        signal.signal(sig, lambda _signum, _frame: stop.set())
    worker = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="demo-api", daemon=True
    )
    worker.start()
    host, port = server.server_address[:2]
    out.write(f"READY http://{host}:{port}\n")
    out.flush()
    while not stop.wait(0.2):
        if not worker.is_alive():
            raise RuntimeError("the server thread died unexpectedly")
    server.shutdown()
    server.server_close()
    worker.join()
