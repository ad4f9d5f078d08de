"""The demo HTTP JSON API: a stdlib server that serves generator frames page by page.

It runs as its own process (see ``process.DemoApi``) so that ingestion code talks to it exactly
as it would to a real vendor API: over a socket, with a bearer token and pagination.

Endpoints (all ``/v1/*`` need ``Authorization: Bearer <token>``):

* ``GET /health`` -> ``{"status": "ok"}``
* ``GET /v1/orders?date=YYYY-MM-DD&offset=0&limit=100``
  -> ``{"data": [...], "total": N, "offset": o, "limit": l}``
* ``GET /v1/payments?date=YYYY-MM-DD&limit=100&cursor=...``
  -> ``{"data": [...], "next_cursor": "..." | null}``

Errors are JSON ``{"error": "..."}`` with status 400, 401, 404, 405 or 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
import logging
import re
import signal
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.generator import generate

logger = logging.getLogger(__name__)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
CACHE_SIZE = 8
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Params = dict[str, list[str]]


class ApiError(Exception):
    """A client error that becomes a JSON error response with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class FrameCache:
    """Thread-safe LRU of generated frames, so paging through a day generates it once."""

    def __init__(self, cfg: DemoConfig, size: int = CACHE_SIZE) -> None:
        self._cfg = cfg
        self._size = size
        self._frames: OrderedDict[tuple[str, dt.date], pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, table: str, day: dt.date) -> pd.DataFrame:
        # Generating under the lock keeps concurrent first requests from doing the work twice.
        with self._lock:
            key = (table, day)
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
            frame = generate(table, day, self._cfg)
            self._frames[key] = frame
            if len(self._frames) > self._size:
                self._frames.popitem(last=False)
            return frame


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: Python ints/floats/strs, missing values as ``None``."""
    as_objects = frame.astype(object)
    return as_objects.where(frame.notna(), None).to_dict("records")


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


def orders_page(cache: FrameCache, params: Params, overlap_pages: bool) -> dict[str, Any]:
    """Offset pagination. With ``overlap_pages`` every page after the first starts with the last
    row of the previous page (the classic shifting-offset duplicate); ``total`` is unchanged."""
    day = parse_day(_single(params, "date"))
    offset = _int_param(params, "offset", 0, 0, None)
    limit = _limit(params)
    frame = cache.get("orders", day)
    total = len(frame)
    start = offset - 1 if overlap_pages and 0 < offset < total else offset
    page = frame.iloc[start : offset + limit]
    return {"data": records(page), "total": total, "offset": offset, "limit": limit}


def payments_page(cache: FrameCache, params: Params) -> dict[str, Any]:
    """Keyset pagination by payment_id; ``date`` may be omitted when a cursor is given."""
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
    ids = frame["payment_id"].to_numpy()
    start = 0 if after is None else int(ids.searchsorted(after, side="right"))
    page = frame.iloc[start : start + limit]
    more = start + limit < len(frame)
    next_cursor = encode_cursor(day, int(ids[start + limit - 1])) if more else None
    return {"data": records(page), "next_cursor": next_cursor}


# --- HTTP plumbing --------------------------------------------------------------------------


class DemoServer(ThreadingHTTPServer):
    """Threading server carrying the API's state; daemon threads so shutdown never waits."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], cfg: DemoConfig, token: str, overlap_pages: bool
    ) -> None:
        super().__init__(address, DemoHandler)
        self.cache = FrameCache(cfg)
        self.token = token
        self.overlap_pages = overlap_pages


class DemoHandler(BaseHTTPRequestHandler):
    """Routes requests; keep-alive (HTTP/1.1) so paging clients reuse one connection."""

    protocol_version = "HTTP/1.1"
    server: DemoServer

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        try:
            self._send_json(200, self._route(url.path, params))
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            self._send_json(exc.status, {"error": exc.message}, headers)
        except Exception:
            # Request boundary: log the traceback, answer 500 instead of dropping the socket.
            logger.exception("unhandled error serving %s", url.path)
            self._send_json(500, {"error": "internal server error"})

    def _reject_method(self) -> None:
        self.close_connection = True  # the unread request body must not poison keep-alive
        self._send_json(405, {"error": f"method {self.command} not allowed"}, {"Allow": "GET"})

    do_POST = do_PUT = do_PATCH = do_DELETE = _reject_method

    def _route(self, path: str, params: Params) -> dict[str, Any]:
        if path == "/health":
            return {"status": "ok"}
        handlers: dict[str, Callable[[], dict[str, Any]]] = {
            "/v1/orders": lambda: orders_page(self.server.cache, params, self.server.overlap_pages),
            "/v1/payments": lambda: payments_page(self.server.cache, params),
        }
        if path not in handlers:
            raise ApiError(404, f"no such endpoint: {path}")
        self._authorize()
        return handlers[path]()

    def _authorize(self) -> None:
        header = self.headers.get("Authorization")
        if not header or not header.startswith("Bearer "):
            raise ApiError(401, "missing bearer token")
        given = header.removeprefix("Bearer ").encode()
        if not hmac.compare_digest(given, self.server.token.encode()):
            raise ApiError(401, "invalid bearer token")

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Access logging is off: request lines carry query strings, headers carry the token."""

    def log_error(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"demo-api: {format % args}\n")


def make_server(
    host: str, port: int, cfg: DemoConfig, token: str, overlap_pages: bool = False
) -> DemoServer:
    """Bind (port 0 picks a free port) without serving yet."""
    if not token:
        raise ValueError("the API token must not be empty")
    return DemoServer((host, port), cfg, token, overlap_pages)


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
