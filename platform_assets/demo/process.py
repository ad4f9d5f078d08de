"""Start and stop the demo API as a child process, the way ``make run``/``make dev``/tests do.

The child gets its own session (process group) so ``stop()`` can signal it and anything it
spawned in one go, and escalates to SIGKILL so a child that ignores SIGTERM can never hang us.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import IO, Any

import requests

from platform_assets.demo.config import DemoConfig
from platform_assets.demo.faults import Faults
from platform_assets.processes import child_preexec

TOKEN_ENV = "PLATFORM_DEMO_API_TOKEN"
OVERLAP_ENV = "PLATFORM_DEMO_OVERLAP_PAGES"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
CONTROL_TIMEOUT_S = 10.0
_READY = "READY "


def _pump_stdout(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines, then keep draining so the pipe can never fill up."""
    with stream:
        for line in stream:
            lines.put(line)
    lines.put(None)


class DemoApi:
    """The demo HTTP API running in a child process; use as a context manager."""

    def __init__(
        self,
        cfg: DemoConfig,
        token: str,
        overlap_pages: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self.cfg = cfg
        self.overlap_pages = overlap_pages
        self.faults = faults
        self.host = host
        self.port = port
        self.url = ""
        self._token = token
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process group id), for diagnostics and tests."""
        return self._proc.pid if self._proc else None

    def _child_env(self) -> dict[str, str]:
        env = {**os.environ, **self.cfg.to_env(), TOKEN_ENV: self._token}
        env[OVERLAP_ENV] = "1" if self.overlap_pages else "0"
        if self.faults is not None:
            env.update(self.faults.to_env())
        return env

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if not self.url:
            raise RuntimeError("DemoApi is not running")
        response = requests.request(
            method,
            self.url + path,
            json=body,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=CONTROL_TIMEOUT_S,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{method} {path} -> HTTP {response.status_code}: {response.text}")
        return response.json()

    def set_faults(self, faults: Faults) -> None:
        """Replace the running server's fault knobs and reset its counters (``POST /_control``)."""
        self._control("POST", "/_control", {"faults": faults.to_dict()})
        self.faults = faults

    def stats(self) -> dict[str, Any]:
        """Server-side counters since the last ``set_faults`` (``GET /_stats``)."""
        return self._control("GET", "/_stats")

    def start(self) -> DemoApi:
        """Spawn the server and block until it prints ``READY <url>`` (or fail loudly)."""
        if self._proc is not None:
            raise RuntimeError("DemoApi already started")
        args = [sys.executable, "-m", "platform_assets.demo", "serve"]
        args += ["--host", self.host, "--port", str(self.port)]
        # stderr goes to a file, not a pipe: nobody reads it while the server runs.
        self._stderr = tempfile.TemporaryFile(prefix="demo-api-stderr-")
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=self._child_env(),
            text=True,
            start_new_session=True,
            preexec_fn=child_preexec(signal.SIGKILL),  # dies with us, even on SIGKILL
        )
        lines: queue.Queue[str | None] = queue.Queue()
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=_pump_stdout, args=(self._proc.stdout, lines), daemon=True
        )
        self._reader.start()
        try:
            self.url = self._await_ready(lines)
        except BaseException:
            self.stop()
            raise
        return self

    def _await_ready(self, lines: queue.Queue[str | None]) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                raise RuntimeError(
                    self._failure(f"not ready after {START_TIMEOUT_S:.0f} s")
                ) from None
            if line is None:
                raise RuntimeError(self._failure("exited before it was ready"))
            if line.startswith(_READY):
                return line.removeprefix(_READY).strip()

    def _failure(self, what: str) -> str:
        """Error text for a failed start, including whatever the child wrote to stderr."""
        assert self._proc is not None and self._stderr is not None
        code = self._proc.poll()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace").strip()
        status = "running" if code is None else f"exit code {code}"
        return f"demo API {what} ({status}); stderr:\n{stderr or '<empty>'}"

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 5 s; idempotent and never hangs."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
        finally:
            if self._reader is not None:
                self._reader.join(timeout=STOP_TIMEOUT_S)
            if self._stderr is not None:
                self._stderr.close()
            self._reader = self._stderr = None
            self.url = ""

    @staticmethod
    def _signal_group(proc: subprocess.Popen[str], sig: signal.Signals) -> None:
        # Only signal while the leader is unreaped: afterwards its pid (= group id) may be reused.
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return

    def __enter__(self) -> DemoApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
