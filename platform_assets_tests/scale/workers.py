"""Real processes of the Celery profile for tests and benchmarks: dagster-celery workers
(started by deploy/worker.sh) and run workers (``dagster job execute`` of daily_job, one per
partition, as a run launcher starts them). Each in its own process group, always stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORKER_SH = REPO / "deploy" / "worker.sh"
READY_TIMEOUT_S = 90.0
RUN_TIMEOUT_S = 480.0  # a daily run: every table, then the quality report
STOP_TIMEOUT_S = 10.0


@dataclass
class Worker:
    """One worker: the celery main process (pid = process group id) and its pool."""

    name: str
    log: Path
    env: Mapping[str, str]
    concurrency: int = 2
    queues: str = "extract,warehouse"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def node(self) -> str:
        """The Celery node name, as dagster-celery reports it per step ("Celery worker")."""
        return f"{self.name}@{socket.gethostname()}"

    def start(self) -> Worker:
        env = {
            **self.env,
            "PYTHON": sys.executable,
            "WORKER_NAME": self.name,
            "CONCURRENCY": str(self.concurrency),
            "QUEUES": self.queues,
        }
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(WORKER_SH)],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: the pool dies with it
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while f"{self.node} ready." not in self.log_text():
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} not ready:\n{self.log_text()[-3000:]}")
            time.sleep(0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pids(self) -> set[int]:
        """Live processes of the worker's group: the main process and its pool."""
        if self.proc is None:
            return set()
        return group_members(self.proc.pid)

    def kill(self) -> None:
        """SIGKILL the whole group, as when the machine is lost; no shutdown handlers run."""
        assert self.proc is not None
        _signal_group(self.proc, signal.SIGKILL)
        self.proc.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        """SIGTERM (warm shutdown), SIGKILL after a timeout; idempotent, never hangs."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop_group(proc, signal.SIGTERM)


@dataclass
class JobRun:
    """One run of daily_job for one partition, orchestrated by a process of its own.

    ``dagster job execute`` loads the code location (platform_assets.definitions) from the
    environment, so PLATFORM_EXECUTOR and DAGSTER_HOME decide where its steps run and where
    the run is recorded. Find the run in the instance by its ``tags``.
    """

    partition: str
    log: Path
    env: Mapping[str, str]
    tags: Mapping[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> JobRun:
        tags = json.dumps({"dagster/partition": self.partition, **self.tags})
        args = [sys.executable, "-m", "dagster", "job", "execute"]
        args += ["-m", "platform_assets.definitions", "-a", "defs", "-j", "daily_job"]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*args, "--tags", tags],
                cwd=REPO,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait(self, timeout: float = RUN_TIMEOUT_S) -> int:
        """The exit code (0: the run succeeded); SIGKILL and fail after ``timeout``."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"run of {self.partition} did not end in {timeout:.0f} s") from None

    def done(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        """SIGKILL whatever is left of the run's group (its step processes included)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _stop_group(proc, signal.SIGKILL)


def backfill_args(partitions: list[str], tags: Mapping[str, str]) -> list[str]:
    """``dagster job backfill`` of daily_job: each partition's run goes through the
    instance's run coordinator and launcher (deploy/dagster.yaml: the runs queue)."""
    args = [sys.executable, "-m", "dagster", "job", "backfill", "--noprompt"]
    args += ["-m", "platform_assets.definitions", "-a", "defs", "-j", "daily_job"]
    return [*args, "--partitions", ",".join(partitions), "--tags", json.dumps(dict(tags))]


def group_members(group: int) -> set[int]:
    return {
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _process_group(entry) == group
    }


def _process_group(proc_dir: Path) -> int | None:
    try:
        stat = (proc_dir / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[2])


def _stop_group(proc: subprocess.Popen[bytes], first: signal.Signals) -> None:
    _signal_group(proc, first)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
    # Children can outlive a leader that died first: sweep what is left of the group
    # (a process group id is not reused while the group has members).
    if group_members(proc.pid):
        _signal_group_id(proc.pid, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # Only while the leader is unreaped: afterwards its pid (= group id) may be reused.
    if proc.poll() is None:
        _signal_group_id(proc.pid, sig)


def _signal_group_id(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        return
