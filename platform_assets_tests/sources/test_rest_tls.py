"""HTTPS, as production APIs speak it: the demo API behind a real TLS endpoint.

A certificate the client was told to trust (``REQUESTS_CA_BUNDLE``, read once per session by
``transport._pin_environment``) gives every row; one it cannot verify is a permanent fault,
reported in one attempt and never retried (a retry cannot fix a certificate).
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_assets.demo.generator import orders_for_day
from platform_assets.demo.process import DemoApi
from platform_assets.sources.rest import PermanentApiError
from platform_assets_tests.sources.conftest import CFG, DAY, client, collect
from platform_assets_tests.sources.test_rest_pagination import ENDPOINTS, PARAMS

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made by the openssl command."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
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
