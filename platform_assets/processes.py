"""Child processes that must always be stopped: own process group, SIGTERM, then SIGKILL.

Shells may start us with SIGINT/SIGTERM ignored, and children inherit that; a child that
ignores SIGTERM must still never outlive its parent or hang it.

A parent killed with SIGKILL runs no ``finally``: its children (each in its own session,
so a signal to the parent's group misses them) would live on as orphans. On Linux the
kernel signals them instead (``PR_SET_PDEATHSIG``); elsewhere only the parent's own
cleanup stops them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Callable

PDEATHSIG_SUPPORTED = sys.platform == "linux"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def default_signals() -> None:
    """``preexec_fn`` for children: restore the default SIGINT and SIGTERM handlers."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def child_preexec(death_signal: signal.Signals = signal.SIGKILL) -> Callable[[], None]:
    """``preexec_fn``: default SIGINT/SIGTERM handlers, and ``death_signal`` when we die.

    Call it in the thread that will own the child for its whole life: Linux sends the
    signal when the *thread* that forked the child exits, not only the process.
    """
    parent = os.getpid()

    def preexec() -> None:
        default_signals()
        if PDEATHSIG_SUPPORTED:
            _die_with_parent(death_signal, parent)

    return preexec


def _die_with_parent(death_signal: signal.Signals, parent: int) -> None:
    """In the forked child: ask the kernel for ``death_signal`` when the parent dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(errno)}")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), death_signal)


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
