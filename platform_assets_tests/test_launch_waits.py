"""A ``platform run`` waiting for a pool slot: it says for what, stops on SIGTERM, and takes
the slot over when its holder's process dies (issue 12, item 1)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import dagster as dg

from platform_assets.automation.run_owner import HOST_TAG, PID_TAG, STARTED_TAG
from platform_assets.home import prepare_environment
from platform_assets_tests.launcher import Launch, launcher_env, summary
from platform_assets_tests.procfs import cmdline, start_time, wait_gone

WAIT_LINE = (
    r"platform: run (?P<run>[0-9a-f-]{36}) waits: step (?P<step>\w+) waits for a slot in pool "
    r"'warehouse' \(limit 1\), held by run (?P<holder>[0-9a-f-]{36}) step holder_step "
    r"\(STARTED, pid (?P<pid>\d+) on (?P<host>\S+)\) \(Ctrl-C or SIGTERM stops it\)"
)


def _instance(home: Path) -> dg.DagsterInstance:
    env = {"PLATFORM_HOME": str(home)}
    prepare_environment(env)  # the embedded instance, as the launcher will find it
    return dg.DagsterInstance.from_config(env["DAGSTER_HOME"])


def _hold_the_slot(instance: dg.DagsterInstance, owner_pid: int) -> str:
    """A STARTED run owned by ``owner_pid`` on this host, holding the one warehouse slot."""
    run_id = str(uuid.uuid4())
    tags = {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(owner_pid),
        STARTED_TAG: str(start_time(owner_pid)),
    }
    instance.add_run(
        dg.DagsterRun(
            job_name="holder", run_id=run_id, tags=tags, status=dg.DagsterRunStatus.STARTED
        )
    )
    storage = instance.event_log_storage
    storage.set_concurrency_slots("warehouse", 1)
    assert storage.claim_concurrency_slot("warehouse", run_id, "holder_step").is_claimed
    return run_id


def test_a_waiting_run_says_what_it_waits_for_and_stops_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _instance(home) as instance:
        holder = _hold_the_slot(instance, owner_pid=os.getpid())  # alive: this test
        launch = Launch.start(launcher_env(home), tmp_path / "run.log")
        try:
            wait = launch.wait_for(WAIT_LINE, timeout_s=240)
            assert (wait["holder"], wait["pid"], wait["host"]) == (
                holder,
                str(os.getpid()),
                socket.gethostname(),
            )
            processes = launch.processes()
            commands = [cmdline(pid) for pid in processes]
            assert sum("platform_assets.demo serve" in c for c in commands) == 1, commands
            launch.proc.send_signal(signal.SIGTERM)
            assert launch.finish(timeout_s=90) == 130
        finally:
            launch.kill()
        assert wait_gone(processes, timeout_s=10) == []
        output = launch.text()
        run_id = wait["run"]
        assert f"platform run: run {run_id} interrupted: CANCELED, slots freed" in output
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        assert [(s.run_id, s.step_key) for s in info.claimed_slots] == [(holder, "holder_step")]
        # The canceled run queues for nothing any more; the holder keeps its own claim.
        assert [(s.run_id, s.step_key) for s in info.pending_steps] == [(holder, "holder_step")]
        assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.STARTED


def test_a_waiting_run_takes_over_the_slot_of_a_holder_that_died(tmp_path: Path) -> None:
    home = tmp_path / "home"
    owner = subprocess.Popen(["sleep", "600"])
    try:
        with _instance(home) as instance:
            holder = _hold_the_slot(instance, owner_pid=owner.pid)
            launch = Launch.start(launcher_env(home), tmp_path / "run.log")
            try:
                launch.wait_for(WAIT_LINE, timeout_s=240)
                owner.kill()
                owner.wait(timeout=10)
                assert launch.finish(timeout_s=240) == 0, launch.text()[-3000:]
            finally:
                launch.kill()
            output = launch.text()
            assert (
                f"platform: marked run {holder} failed (its process {owner.pid} is gone), "
                f"freed the pool slots of run {holder}"
            ) in output
            assert instance.get_run_by_id(holder).status == dg.DagsterRunStatus.FAILURE
            rows = summary(output)
            assert len(rows) == 13 and all(r[0] == "materialized" for r in rows.values()), rows
            assert re.search(r"run [0-9a-f-]{36}: SUCCESS", output)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
