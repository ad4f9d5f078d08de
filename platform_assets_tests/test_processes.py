"""Children die with their parent, even when the parent is killed with SIGKILL (Linux)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from platform_assets.processes import PDEATHSIG_SUPPORTED, child_preexec
from platform_assets_tests.procfs import start_time, wait_gone

pytestmark = pytest.mark.skipif(
    not PDEATHSIG_SUPPORTED, reason="PR_SET_PDEATHSIG is Linux-only; elsewhere nothing to test"
)
REPO = Path(__file__).resolve().parents[1]

PARENT_WITH_DEMO_API = """
import time
from platform_assets.demo.config import DemoConfig
from platform_assets.demo.process import DemoApi
api = DemoApi(DemoConfig(), "parent-token").start()
print(api.pid, flush=True)
time.sleep(600)
"""


def _kill_parent_and_check_child(code: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        started = start_time(child)
        assert started is not None, "the child is not running"
        os.killpg(parent.pid, signal.SIGKILL)  # the parent's group; the child has its own
        parent.wait(timeout=10)
        assert wait_gone({child: started}, timeout_s=10) == [], f"child {child} outlived parent"
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait(timeout=10)


def test_the_demo_api_dies_with_a_sigkilled_parent() -> None:
    _kill_parent_and_check_child(PARENT_WITH_DEMO_API)


def test_child_preexec_gives_any_child_the_death_signal() -> None:
    code = (
        "import signal, subprocess, sys, time\n"
        "from platform_assets.processes import child_preexec\n"
        "child = subprocess.Popen(['sleep', '600'], start_new_session=True,\n"
        "                         preexec_fn=child_preexec(signal.SIGTERM))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    _kill_parent_and_check_child(code)


def test_child_preexec_restores_default_sigterm_in_the_child() -> None:
    """A child of a shell that ignores SIGTERM still stops on it."""
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        child = subprocess.Popen(["sleep", "600"], preexec_fn=child_preexec())
    finally:
        signal.signal(signal.SIGTERM, previous)
    child.terminate()
    assert child.wait(timeout=10) == -signal.SIGTERM
