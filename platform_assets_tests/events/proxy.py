"""A TCP proxy a test can cut: the broker 'goes away' for one client without touching the
broker every other test (and every other process on this machine) shares.

``cut(seconds)`` closes every proxied connection (the client sees its socket reset, like a
broker that died) and refuses new ones for that long (like a broker restarting).
"""

from __future__ import annotations

import socket
import threading
import time


class CuttableProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._refuse_until = 0.0
        self._closed = False
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            if time.monotonic() < self._refuse_until:
                client.close()  # the 'broker' is down: connection refused (reset at once)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # cut or closed by the other side: the pipe ends either way
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already shut down by the other pipe
                s.close()

    def cut(self, seconds: float) -> None:
        """Sever every connection now and refuse new ones for ``seconds``."""
        self._refuse_until = time.monotonic() + seconds
        self.cuts += 1
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the pipe already closed it
            s.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut(0)
