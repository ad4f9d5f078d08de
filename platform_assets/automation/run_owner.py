"""Runs executed inside a launcher process (``platform run``): their owner, and its leftovers.

A run executed in-process lives and dies with its process. Killed with SIGKILL, it stays
STARTED for ever and its steps keep their pool slots, claimed or queued: with the embedded
pool limit of 1 every later run then waits for ever. Dagster's run monitoring cannot tell
(the default run launcher does not check run workers, and no launcher started such a run),
so each run carries its owner's host, pid and process start time as tags, and a launcher
marks the runs of dead owners on its host failed and frees their slots: before it starts
a run, and again while its run waits for a slot.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

HOST_TAG = "platform/owner_host"
PID_TAG = "platform/owner_pid"
STARTED_TAG = "platform/owner_started"  # process start time (Linux clock ticks), "" elsewhere
UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def _process_started(pid: int) -> str | None:
    """The process's start time from /proc (Linux), "" where there is no /proc, None if gone.

    The start time tells a live owner from a later process that reused its pid.
    """
    if sys.platform != "linux":
        return ""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces
    return None if fields[0] == "Z" else fields[19]


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the owner of the run it executes."""
    pid = os.getpid()
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        STARTED_TAG: _process_started(pid) or "",
    }


def owner_is_dead(tags: Mapping[str, str]) -> bool:
    """True only for a run owned by a process of this host that no longer runs.

    Runs without owner tags (launched by the daemon or the UI) or owned by another host are
    never judged here: run monitoring and their own host's launcher look after them.
    """
    if tags.get(HOST_TAG) != socket.gethostname() or PID_TAG not in tags:
        return False
    pid = int(tags[PID_TAG])
    started = _process_started(pid)
    if started is None:
        return True
    if started == "" or tags.get(STARTED_TAG, "") == "":
        return not _pid_exists(pid)
    return started != tags[STARTED_TAG]


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # a process of another user holds the pid
    return True


def _candidate_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Unfinished runs of this host's launchers, and every run that holds or awaits a slot."""
    host = socket.gethostname()
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED, tags={HOST_TAG: host}))
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:  # no pools: no slots to hold
        return list(runs)
    seen = {run.run_id for run in runs}
    slot_run_ids = sorted(storage.get_concurrency_run_ids() - seen)
    if slot_run_ids:
        runs = [*runs, *instance.get_runs(filters=dg.RunsFilter(run_ids=slot_run_ids))]
    return list(runs)


def reclaim_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail the unfinished runs of dead owners and free their slots; say what was done."""
    done = []
    for run in _candidate_runs(instance):
        if not owner_is_dead(run.tags):
            continue
        what = f"freed the pool slots of run {run.run_id}"
        if run.status in UNFINISHED:
            instance.report_run_failed(
                run,
                message=(
                    f"The process that executed this run (pid {run.tags[PID_TAG]} on "
                    f"{run.tags[HOST_TAG]}) is gone: marked failed by a later launcher."
                ),
            )
            what = (
                f"marked run {run.run_id} failed (its process {run.tags[PID_TAG]} is gone), {what}"
            )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        done.append(what)
    return done


def describe_wait(instance: dg.DagsterInstance, run_id: str) -> str | None:
    """What ``run_id`` waits for (pool, its limit, who holds the slots), or None."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return None
    waits = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        steps = [s.step_key for s in info.pending_steps if s.run_id == run_id]
        claimed = [s.step_key for s in info.claimed_slots if s.run_id == run_id]
        if not steps or claimed:
            continue
        holders = ", ".join(
            _holder(instance, slot.run_id, slot.step_key)
            for slot in info.claimed_slots
            if slot.run_id != run_id
        )
        waits.append(
            f"step {steps[0]} waits for a slot in pool {pool!r} (limit {info.limit}), "
            f"held by {holders or 'nobody yet (about to be assigned)'}"
        )
    return "; ".join(waits) or None


def _holder(instance: dg.DagsterInstance, run_id: str, step_key: str) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None:
        return f"run {run_id} (not in this instance) step {step_key}"
    owner = (
        f"pid {run.tags[PID_TAG]} on {run.tags[HOST_TAG]}"
        if PID_TAG in run.tags
        else "launched by the daemon or UI"
    )
    return f"run {run_id} step {step_key} ({run.status.value}, {owner})"
