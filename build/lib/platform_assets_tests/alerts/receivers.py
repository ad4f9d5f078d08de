"""Real receivers for alert sinks: an HTTP server (webhooks, Pushgateway, OpenLineage) and
an SMTP server, both listening on 127.0.0.1 in the test process and recording what arrived."""

from __future__ import annotations

import json
import socket
import threading
import warnings
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Collects every request; ``stop()`` and ``start()`` again take the sink down and up."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Received] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.requests.append(Received(self.command, self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = _record  # noqa: N815 - http.server's naming
            do_PUT = _record  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return  # quiet: the test asserts on what arrived

        return Handler

    def start(self) -> HttpReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=10)
            self._server = None

    def posts(self, path_prefix: str) -> list[Received]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]


class _MailHandler:
    def __init__(self, inbox: list[Message]) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.inbox.append(message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpReceiver:
    """An SMTP server that requires AUTH LOGIN/PLAIN with one user (plain text: test only)."""

    def __init__(self, user: str, password: str) -> None:
        self.port = free_port()
        self.inbox: list[Message] = []
        self.logins: list[str] = []
        self._user, self._password = user.encode(), password.encode()
        with warnings.catch_warnings():  # plain-text AUTH: acceptable on 127.0.0.1 in a test
            warnings.simplefilter("ignore", UserWarning)
            self._controller = Controller(
                _MailHandler(self.inbox),
                hostname="127.0.0.1",
                port=self.port,
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login == self._user and auth_data.password == self._password
        )
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
