"""What the HTTP client takes from its environment, against real servers: TLS and proxies.

A certificate the client was told to trust (``REQUESTS_CA_BUNDLE``, read once per transport by
``transport._environment``) gives every row; one it cannot verify is a permanent fault,
reported in one attempt and never retried (a retry cannot fix a certificate). A proxy named
by ``http_proxy`` carries every request, unless ``no_proxy`` names the API's host.
"""

from __future__ import annotations

import http.client
import http.server
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from platform_assets.demo.generator import orders_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import PermanentApiError
from platform_assets_tests.conftest import service_unavailable
from platform_assets_tests.sources.conftest import CFG, DAY, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        service_unavailable("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TlsFront(socketserver.ThreadingTCPServer):
    """Terminates TLS and forwards the plain bytes to the demo API: what a load balancer in
    front of an HTTP service does. Counts the connections that reached it."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, backend: tuple[str, int]) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.context = context
        self.backend = backend
        self.connections = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


class _Forward(socketserver.BaseRequestHandler):
    server: TlsFront

    def handle(self) -> None:
        self.server.connections += 1
        try:
            secure = self.server.context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):  # the client refused our certificate: nothing to serve
            return
        with secure, socket.create_connection(self.server.backend, timeout=10) as backend:
            pump = threading.Thread(target=_copy, args=(backend, secure), daemon=True)
            pump.start()
            _copy(secure, backend)
            pump.join(timeout=10)


def _copy(source: socket.socket, target: socket.socket) -> None:
    """Bytes from one side to the other until either side closes."""
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        return  # the other direction closed the connection
    try:
        target.shutdown(socket.SHUT_WR)
    except OSError:
        return


@pytest.fixture(scope="module")
def tls(demo: DemoApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TlsFront, Path]]:
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    host, port = demo.url.removeprefix("http://").split(":")
    front = TlsFront(context, (host, int(port)))
    thread = threading.Thread(target=front.serve_forever, daemon=True)
    thread.start()
    yield front, cert
    front.shutdown()
    front.server_close()


def test_a_trusted_certificate_gives_every_row(
    api: DemoApi, tls: tuple[TlsFront, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    front, cert = tls
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    got = collect(client(api, base_url=front.url).pages(ENDPOINTS["offset"], PARAMS))
    assert len(got) == len(orders_for_day(DAY, CFG))
    assert got["order_id"].is_unique


def test_an_unverifiable_certificate_fails_at_once_without_a_retry(
    api: DemoApi, tls: tuple[TlsFront, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    front, _ = tls
    for name in CA_VARIABLES:  # the system's and certifi's CAs never signed the test's
        monkeypatch.delenv(name, raising=False)
    before = front.connections
    with pytest.raises(PermanentApiError) as failure:
        collect(client(api, base_url=front.url).pages(ENDPOINTS["offset"], PARAMS))
    assert str(failure.value).startswith(f"GET {front.url}/v1/orders?")
    assert "TLS failure" in str(failure.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert front.connections - before == 1  # max_attempts is 8: a retry would show here
    assert api.stats()["requests"] == 0  # nothing reached the API


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """A forward HTTP proxy: requests arrive with absolute URLs, go on to the origin."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        target = urlsplit(self.path)
        self.server.seen.append(self.path)
        upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
            upstream.request("GET", f"{target.path}?{target.query}", headers=headers)
            response = upstream.getresponse()
            body = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return


class _ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


@pytest.fixture
def proxy() -> Iterator[_ProxyServer]:
    server = _ProxyServer(("127.0.0.1", 0), _ForwardProxy)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_go_through_the_proxy_of_the_environment_unless_no_proxy_names_the_host(
    api: DemoApi, proxy: _ProxyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.server_address[1]}")
    got = collect(client(api).pages(ENDPOINTS["offset"], PARAMS))
    assert len(got) == len(orders_for_day(DAY, CFG))
    pages = list(proxy.seen)  # before the stats call below, which takes the proxy too
    assert len(pages) == api.stats()["requests"] > 1  # every page went through the proxy
    assert all(url.startswith(f"{api.url}/v1/orders?") for url in pages)

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    proxy.seen.clear()
    got = collect(client(api).pages(ENDPOINTS["offset"], PARAMS))
    assert len(got) == len(orders_for_day(DAY, CFG)) and proxy.seen == []
