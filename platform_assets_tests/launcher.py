"""``platform run`` as a real child process on its own PLATFORM_HOME, for the fault tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from platform_assets_tests.procfs import descendants

REPO = Path(__file__).resolve().parents[1]
# A small demo company: the runs are the same, the seeding and loading cheaper.
SMALL_DEMO = {
    "PLATFORM_DEMO_ORDERS_PER_DAY": "40",
    "PLATFORM_DEMO_CUSTOMERS_PER_DAY": "4",
    "PLATFORM_DEMO_DEFECT_RATE": "0.05",
}


PLATFORM = Path(sys.executable).with_name("platform")
# Tests that start `platform dev` run one at a time (make test runs two workers): each dev
# consumes the broker's default events queue, and two would take each other's events.
PLATFORM_DEV_GROUP = "platform_dev"


def user_env(**values: str) -> dict[str, str]:
    """This environment without PLATFORM_* and DAGSTER_* (a new user's shell), plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "DAGSTER_"))}
    env.update(values)
    return env


def launcher_env(home: Path) -> dict[str, str]:
    return user_env(**SMALL_DEMO, PLATFORM_HOME=str(home), PYTHONUNBUFFERED="1")


def platform_run(env: dict[str, str], timeout_s: float = 300) -> subprocess.CompletedProcess[str]:
    """``platform run`` in the repository, to its end, its output captured."""
    return subprocess.run(
        [str(PLATFORM), "run"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=timeout_s,
    )  # fmt: skip


@dataclass
class Launch:
    """One ``platform run`` in its own session, its output (stdout and stderr) in ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], log: Path) -> Launch:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(PLATFORM), "run"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(proc, log)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float, count: int = 1) -> re.Match[str]:
        """The ``count``-th match of ``pattern`` in the output; fails if the run ends first."""
        deadline = time.monotonic() + timeout_s
        while True:
            matches = list(re.finditer(pattern, self.text()))
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exit {self.proc.returncode}" if self.proc.poll() is not None else "timeout"
                )
                raise AssertionError(f"no {pattern!r} x{count} ({state}):\n{self.text()[-3000:]}")
            time.sleep(0.1)

    def processes(self) -> dict[int, int]:
        """The launcher and every process it started (the demo API), with start times."""
        return descendants(self.proc.pid)

    def finish(self, timeout_s: float) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"platform run did not end in {timeout_s:.0f} s") from None

    def kill(self) -> None:
        """SIGKILL the launcher's process group (as the issue's repro does)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


SUMMARY_ROW = re.compile(r"^(\w+)\s+(\w+)\s+(\d+|-)\s+(\d+|-)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def summary(output: str) -> dict[str, tuple[str, ...]]:
    """The printed summary: asset -> (status, loaded, quarantined, passed, warnings, failed)."""
    return {m[1]: m.groups()[1:] for m in SUMMARY_ROW.finditer(output)}
