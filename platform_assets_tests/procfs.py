"""Processes as Linux's /proc shows them: whether one still runs, who runs under a folder."""

from __future__ import annotations

import time
from pathlib import Path

PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (stat field 22), None when it is gone.

    A pid with the same start time is the same process, not a later one that reused the pid.
    A zombie counts as gone: it runs nothing and holds no memory.
    """
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    return start_time(pid) == started


def wait_gone(processes: dict[int, int], timeout_s: float) -> list[int]:
    """Wait until none of ``{pid: start time}`` runs; return the pids still running."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = [pid for pid, started in processes.items() if alive(pid, started)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def command_lines_mentioning(text: str) -> dict[int, str]:
    """Every live process whose command line or environment names ``text`` (e.g. a tmp path)."""
    found: dict[int, str] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if (text in cmdline or text in environ) and start_time(int(entry.name)) is not None:
            found[int(entry.name)] = cmdline
    return found


def parent_of(pid: int) -> int | None:
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:"))


def descendants(pid: int) -> dict[int, int]:
    """``{pid: start time}`` of the process and everything it started that still runs."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        started = start_time(current)
        if started is not None:
            found[current] = started
            todo.extend(children.get(current, []))
    return found


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""
