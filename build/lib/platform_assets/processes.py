"""Child processes that must always be stopped: own process group, SIGTERM, then SIGKILL.

Shells may start us with SIGINT/SIGTERM ignored, and children inherit that; a child that
ignores SIGTERM must still never outlive its parent or hang it.
"""

from __future__ import annotations

import os
import signal
import subprocess


def default_signals() -> None:
    """``preexec_fn`` for children: restore the default SIGINT and SIGTERM handlers."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_group(proc: subprocess.Popen, timeout_s: float = 30.0) -> None:
    """SIGTERM the child's process group, wait, then SIGKILL whatever of it is left."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # grandchildren still alive in the group
    except ProcessLookupError:
        pass  # the whole group has exited: nothing left to stop
    proc.wait(timeout=10)
