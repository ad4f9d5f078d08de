"""Run owners: a run whose launcher died is failed and its slots freed; no other run is."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.automation.run_owner import (
    HOST_TAG,
    PID_TAG,
    STARTED_TAG,
    describe_wait,
    owner_is_dead,
    owner_tags,
    reclaim_dead_runs,
)
from platform_assets.home import EMBEDDED_INSTANCE
from platform_assets_tests.procfs import start_time


@pytest.fixture
def instance(tmp_path: Path):
    (tmp_path / "dagster.yaml").write_text(EMBEDDED_INSTANCE)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        yield instance


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait(timeout=10)
    return child.pid


def _tags(pid: int, started: str, host: str | None = None) -> dict[str, str]:
    return {HOST_TAG: host or socket.gethostname(), PID_TAG: str(pid), STARTED_TAG: started}


def test_owner_tags_name_this_process() -> None:
    assert owner_tags() == _tags(os.getpid(), str(start_time(os.getpid())))
    assert not owner_is_dead(owner_tags())


def test_a_gone_or_reused_pid_is_a_dead_owner() -> None:
    assert owner_is_dead(_tags(_dead_pid(), "12345"))
    # Same pid, another start time: a later process reused the pid.
    assert owner_is_dead(_tags(os.getpid(), str(start_time(os.getpid()) + 1)))


def test_runs_of_other_hosts_and_untagged_runs_are_never_judged() -> None:
    assert not owner_is_dead(_tags(_dead_pid(), "12345", host="another-host"))
    assert not owner_is_dead({})


def _run(instance: dg.DagsterInstance, tags: dict[str, str], step: str | None) -> str:
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(job_name="j", run_id=run_id, tags=tags, status=dg.DagsterRunStatus.STARTED)
    )
    if step is not None:
        instance.event_log_storage.claim_concurrency_slot("warehouse", run_id, step)
    return run_id


def test_reclaim_fails_the_runs_of_dead_owners_and_frees_their_slots(
    instance: dg.DagsterInstance,
) -> None:
    storage = instance.event_log_storage
    storage.set_concurrency_slots("warehouse", 1)
    dead = _run(instance, _tags(_dead_pid(), "1"), "orders")  # holds the one slot
    queued = _run(instance, _tags(_dead_pid(), "1"), "payments")  # queued behind it
    alive = _run(instance, owner_tags(), None)
    untagged = _run(instance, {}, None)
    waiting = _run(instance, owner_tags(), "customers")
    assert describe_wait(instance, waiting) == (
        f"step customers waits for a slot in pool 'warehouse' (limit 1), held by run {dead} "
        f"step orders (STARTED, pid {instance.get_run_by_id(dead).tags[PID_TAG]} on "
        f"{socket.gethostname()})"
    )

    done = reclaim_dead_runs(instance)

    assert sorted(done) == sorted(
        f"marked run {run} failed (its process {instance.get_run_by_id(run).tags[PID_TAG]} "
        f"is gone), freed the pool slots of run {run}"
        for run in (dead, queued)
    )
    status = {run: instance.get_run_by_id(run).status for run in (dead, queued, alive, untagged)}
    assert status == {
        dead: dg.DagsterRunStatus.FAILURE,
        queued: dg.DagsterRunStatus.FAILURE,
        alive: dg.DagsterRunStatus.STARTED,
        untagged: dg.DagsterRunStatus.STARTED,
    }
    info = storage.get_concurrency_info("warehouse")
    assert {s.run_id for s in info.pending_steps} == {waiting}  # now assigned the free slot
    assert reclaim_dead_runs(instance) == []  # nothing twice


@dg.op(pool="warehouse")
def _write() -> None:
    """A step that needs the warehouse slot."""


_job = dg.GraphDefinition(name="one_step", node_defs=[_write]).to_job()


def test_a_supervised_run_waiting_for_a_slot_is_told_and_canceled_by_ctrl_c(
    instance: dg.DagsterInstance,
) -> None:
    import _thread

    from platform_assets.automation.supervised_run import RunInterrupted, execute_supervised

    instance.event_log_storage.set_concurrency_slots("warehouse", 1)
    holder = _run(instance, owner_tags(), "holder_step")  # alive: this process
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if " waits: " in line:
            _thread.interrupt_main()  # Ctrl-C, delivered to the main thread

    with pytest.raises(RunInterrupted) as interrupted:
        execute_supervised(_job, instance, partition_key=None, say=say)
    run_id = interrupted.value.run_id
    assert said == [
        f"platform: run {run_id} waits: step _write waits for a slot in pool 'warehouse' "
        f"(limit 1), held by run {holder} step holder_step (STARTED, pid {os.getpid()} on "
        f"{socket.gethostname()}) (Ctrl-C or SIGTERM stops it)"
    ]
    assert str(interrupted.value) == f"run {run_id} interrupted: CANCELED, slots freed"
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED
    info = instance.event_log_storage.get_concurrency_info("warehouse")
    assert {s.run_id for s in info.pending_steps} == {holder}
