"""A ticket shop's REST API whose shape differs from the demo's, as a real HTTP server.

``/api/tickets`` is what the YAML-only source reads: an API key in ``X-Shop-Key``, a JSON
list at the top level, the total in ``X-Total-Count``, the next page in a ``Link`` header,
page numbers, a page size the server fixes (7), and records with a timestamp (``Z`` or a
UTC offset) but no date. The window is ``from``/``to`` as ``YYYY-MM-DDTHH:MM:SSZ``,
half-open, on the UTC instant of ``created_at``. The server is strict: an unknown query
parameter or a malformed window is a 400, a missing or wrong key a 401.

The same tickets are served in the other pagination styles, for the paginator tests:
``/api/tickets-json`` (next URL in the body), ``/api/tickets-cursor`` (cursor in a header),
``/api/tickets-all`` (one page), ``/api/tickets-paged`` (page/per_page, total in a header,
per_page capped at the page size so short pages are not the last).

The expected outcome (which tickets load into which UTC day, which are quarantined and
why) is written down here independently of the platform's code.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

PAGE_SIZE = 7
KEY_HEADER = "X-Shop-Key"
WINDOW_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
DAYS = (date(2026, 3, 10), date(2026, 3, 11), date(2026, 3, 12))
STATUSES = ("open", "pending", "closed")


@dataclass(frozen=True)
class Ticket:
    ticket_id: int | None
    created_at: str  # as sent
    amount: Any  # as sent (a number, or a defect)
    status: str
    instant: datetime  # the UTC instant the server files it under (window filter)
    # What the platform must make of it: the UTC day it loads into, or the reasons
    # (column, offending value as a reason shows it) it is quarantined for.
    loads_into: date | None = None
    reasons: frozenset[tuple[str, Any]] = frozenset()

    def record(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "created_at": self.created_at,
            "amount": self.amount,
            "status": self.status,
        }


def _stamp(instant: datetime, offset_hours: int) -> str:
    """ISO 8601 of ``instant`` in a fixed UTC offset (0: with 'Z')."""
    if offset_hours == 0:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = instant.astimezone(timezone(timedelta(hours=offset_hours)))
    return local.isoformat()


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


BASE_ROWS = {DAYS[0]: 12, DAYS[1]: 9, DAYS[2]: 17}
# Near midnight: the UTC day differs from the local day of the stamp as sent.
# 2026-03-11T01:30:00+02:00 is 2026-03-10T23:30Z; 2026-03-11T19:15:00-05:00 is 2026-03-12T00:15Z.
ACROSS_MIDNIGHT = (
    ("2026-03-11T01:30:00+02:00", datetime(2026, 3, 10, 23, 30, tzinfo=UTC)),
    ("2026-03-11T19:15:00-05:00", datetime(2026, 3, 12, 0, 15, tzinfo=UTC)),
)
UNPARSEABLE_TS = "12/03/2026 noon"
BIG_ID = 2**53 + 1  # 9007199254740993: a float64 cannot hold it


def tickets() -> list[Ticket]:
    """Every ticket of the three days, deterministic, ordered by id."""
    specs: list[dict[str, Any]] = []
    for day in DAYS:
        for k in range(BASE_ROWS[day]):
            instant = _midnight(day) + timedelta(minutes=5 + 37 * k, seconds=k)
            specs.append(
                {
                    "created_at": _stamp(instant, (0, 2, -3)[k % 3]),
                    "amount": round(10 + 1.25 * k, 2),
                    "status": STATUSES[k % 3],
                    "instant": instant,
                    "loads_into": day,
                }
            )
    for stamp, instant in ACROSS_MIDNIGHT:
        specs.append(
            {
                "created_at": stamp,
                "amount": 99.5,
                "status": "open",
                "instant": instant,
                "loads_into": instant.date(),
            }
        )
    noon = [_midnight(d) + timedelta(hours=12) for d in DAYS]
    specs += [
        {  # day 1: a status the contract does not accept
            "created_at": _stamp(noon[0], 0),
            "amount": 5.0,
            "status": "escalated",
            "instant": noon[0],
            "reasons": {("status", "escalated")},
        },
        {  # day 2: a negative amount
            "created_at": _stamp(noon[1], 2),
            "amount": -12.5,
            "status": "closed",
            "instant": noon[1],
            "reasons": {("amount", "-12.5")},
        },
        {  # day 2: two defects in one row
            "created_at": _stamp(noon[1] + timedelta(minutes=1), 0),
            "amount": -1,
            "status": "lost",
            "instant": noon[1] + timedelta(minutes=1),
            "reasons": {("amount", "-1.0"), ("status", "lost")},
        },
        {  # day 2: an id beyond float64's integers (the page also holds a null id)
            "ticket_id": BIG_ID,
            "created_at": _stamp(noon[1] + timedelta(minutes=3), 0),
            "amount": 20,
            "status": "open",
            "instant": noon[1] + timedelta(minutes=3),
            "loads_into": DAYS[1],
        },
        {  # day 2: no id
            "ticket_id": None,
            "created_at": _stamp(noon[1] + timedelta(minutes=4), 0),
            "amount": 3.5,
            "status": "closed",
            "instant": noon[1] + timedelta(minutes=4),
            "reasons": {("ticket_id", "<NA>")},
        },
        {  # day 3: an unparseable timestamp (filed under day 3 by the server)
            "created_at": UNPARSEABLE_TS,
            "amount": 7.25,
            "status": "open",
            "instant": noon[2],
            "reasons": {("created_at", UNPARSEABLE_TS)},
        },
        {  # day 3: an amount that is not a number
            "created_at": _stamp(noon[2] + timedelta(minutes=2), -3),
            "amount": "n/a",
            "status": "pending",
            "instant": noon[2] + timedelta(minutes=2),
            "reasons": {("amount", "n/a")},
        },
    ]
    specs.sort(key=lambda s: s["instant"])
    return [
        Ticket(
            ticket_id=s.get("ticket_id", 1000 + i),
            created_at=s["created_at"],
            amount=s["amount"],
            status=s["status"],
            instant=s["instant"],
            loads_into=s.get("loads_into"),
            reasons=frozenset(s.get("reasons", ())),
        )
        for i, s in enumerate(specs)
    ]


def served_on(day: date, all_tickets: list[Ticket] | None = None) -> list[Ticket]:
    """The tickets the server returns for ``day``'s window."""
    start = _midnight(day)
    return [t for t in all_tickets or tickets() if start <= t.instant < start + timedelta(days=1)]


def window(day: date) -> dict[str, str]:
    start = _midnight(day)
    return {
        "from": start.strftime(WINDOW_FORMAT),
        "to": (start + timedelta(days=1)).strftime(WINDOW_FORMAT),
    }


@dataclass
class Seen:
    path: str
    params: dict[str, str]
    key: str | None
    status: int


@dataclass
class ShopApi:
    """The server, started on a free port of 127.0.0.1 in a thread."""

    key: str
    data: list[Ticket] = field(default_factory=tickets)
    requests: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ShopApi:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                api._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        if any(len(v) != 1 for v in query.values()):
            return self._reply(handler, parts.path, {}, 400, {"error": "repeated parameter"})
        params = {k: v[0] for k, v in query.items()}
        key = handler.headers.get(KEY_HEADER)
        if key != self.key:
            return self._reply(handler, parts.path, params, 401, {"error": "bad or no API key"})
        route = ROUTES.get(parts.path)
        if route is None:
            return self._reply(handler, parts.path, params, 404, {"error": "no such path"})
        allowed, style = route
        unknown = set(params) - allowed
        if unknown:
            return self._reply(handler, parts.path, params, 400, {"error": f"unknown {unknown}"})
        try:
            start = datetime.strptime(params["from"], WINDOW_FORMAT).replace(tzinfo=UTC)
            end = datetime.strptime(params["to"], WINDOW_FORMAT).replace(tzinfo=UTC)
        except (KeyError, ValueError):
            return self._reply(handler, parts.path, params, 400, {"error": "from/to"})
        rows = [t.record() for t in self.data if start <= t.instant < end]
        status, body, headers = style(self, parts.path, params, rows)
        self._reply(handler, parts.path, params, status, body, headers)

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        path: str,
        params: dict[str, str],
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
    ) -> None:
        with self._lock:
            self.requests.append(Seen(path, params, handler.headers.get(KEY_HEADER), status))
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _link(self, path: str, params: dict[str, str]) -> str:
        return f"{self.url}{path}?{urlencode(params)}"

    def _header_link(self, path: str, params: dict[str, str], rows: list) -> tuple:
        page = int(params.get("page", "1"))
        chunk = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        headers = {"X-Total-Count": str(len(rows))}
        if page * PAGE_SIZE < len(rows):
            headers["Link"] = (
                f'<{self._link(path, {**params, "page": str(page + 1)})}>; rel="next", '
                f'<{self._link(path, {**params, "page": "1"})}>; rel="first"'
            )
        return 200, chunk, headers

    def _json_link(self, path: str, params: dict[str, str], rows: list) -> tuple:
        after = int(params.get("after", "0"))
        size = min(int(params.get("limit", PAGE_SIZE)), PAGE_SIZE)
        chunk = rows[after : after + size]
        more = after + size < len(rows)
        nxt = self._link(path, {**params, "after": str(after + size)}) if more else None
        return 200, {"meta": {"next": nxt}, "items": chunk}, {}

    def _cursor(self, path: str, params: dict[str, str], rows: list) -> tuple:
        raw = params.get("cursor")
        after = int(base64.urlsafe_b64decode(raw).decode()) if raw else 0
        size = min(int(params.get("limit", PAGE_SIZE)), PAGE_SIZE)
        chunk = rows[after : after + size]
        headers = {}
        if after + size < len(rows):
            headers["X-Next-Cursor"] = base64.urlsafe_b64encode(str(after + size).encode()).decode()
        return 200, {"data": chunk}, headers

    def _single(self, path: str, params: dict[str, str], rows: list) -> tuple:
        return 200, {"data": rows}, {}

    def _paged(self, path: str, params: dict[str, str], rows: list) -> tuple:
        page = int(params["page"])
        size = min(int(params["per_page"]), PAGE_SIZE)  # caps what the client asks for
        chunk = rows[(page - 1) * size : page * size]
        return 200, {"results": chunk}, {"X-Total-Count": str(len(rows))}


WINDOW_PARAMS = {"from", "to"}
ROUTES = {
    "/api/tickets": (WINDOW_PARAMS | {"page"}, ShopApi._header_link),
    "/api/tickets-json": (WINDOW_PARAMS | {"after", "limit"}, ShopApi._json_link),
    "/api/tickets-cursor": (WINDOW_PARAMS | {"cursor", "limit"}, ShopApi._cursor),
    "/api/tickets-all": (WINDOW_PARAMS, ShopApi._single),
    "/api/tickets-paged": (WINDOW_PARAMS | {"page", "per_page"}, ShopApi._paged),
}
