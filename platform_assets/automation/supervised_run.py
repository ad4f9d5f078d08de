"""Execute a job in-process under supervision: a run that waits says why and can be stopped.

Dagster's in-process execution defers SIGINT/SIGTERM to its checkpoints, and its wait for
a pool slot has none: a run blocked on a slot ignored Ctrl-C and SIGTERM for ever. So the
run executes in a worker thread (where Dagster installs no signal handlers) while the main
thread keeps the signals, says what the run waits for, reclaims the slots of dead owners
(run_owner.py) and, on KeyboardInterrupt, cancels the run: it raises KeyboardInterrupt in
the worker, which Dagster handles as an interrupted run that frees its slots.
"""

from __future__ import annotations

import ctypes
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from platform_assets.automation.run_owner import describe_wait, owner_tags, reclaim_dead_runs

POLL_S = 2.0
STOP_TIMEOUT_S = 60.0


@dataclass
class _Outcome:
    result: dg.ExecuteInProcessResult | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class RunInterrupted(KeyboardInterrupt):
    """The run was stopped by Ctrl-C or SIGTERM; ``run_id`` names it."""

    def __init__(self, run_id: str, detail: str) -> None:
        super().__init__(f"run {run_id} interrupted: {detail}")
        self.run_id = run_id


def execute_supervised(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition_key: str | None,
    say: Callable[[str], None] = print,
) -> dg.ExecuteInProcessResult:
    """``job.execute_in_process`` (of one partition, if given), owned by this process (tags)."""
    for line in reclaim_dead_runs(instance):
        say(f"platform: {line}")
    run_id = str(uuid.uuid4())
    outcome = _Outcome()

    def work() -> None:
        try:
            outcome.result = job.execute_in_process(
                partition_key=partition_key,
                instance=instance,
                raise_on_error=False,
                run_id=run_id,
                tags=owner_tags(),
            )
        except BaseException as exc:  # handed to the main thread, which raises it
            outcome.error = exc
        finally:
            outcome.done.set()

    worker = threading.Thread(target=work, name=f"run-{run_id}", daemon=True)
    worker.start()
    try:
        _watch(instance, run_id, outcome, say)
    except KeyboardInterrupt:
        raise RunInterrupted(run_id, _stop(instance, run_id, worker, outcome)) from None
    if outcome.error is not None:
        raise outcome.error
    assert outcome.result is not None
    return outcome.result


def _watch(
    instance: dg.DagsterInstance, run_id: str, outcome: _Outcome, say: Callable[[str], None]
) -> None:
    """Until the run ends: say what it waits for, free what dead runs hold.

    A wait is told once it was seen at two polls in a row: a step queues for an instant
    before every claim, which is no wait worth a line.
    """
    seen = said = None
    while not outcome.done.wait(POLL_S):
        wait = describe_wait(instance, run_id)
        if wait is not None:
            for line in reclaim_dead_runs(instance):
                say(f"platform: {line}")
        if wait is not None and wait == seen and wait != said:
            say(f"platform: run {run_id} waits: {wait} (Ctrl-C or SIGTERM stops it)")
            said = wait
        seen = wait


def _stop(
    instance: dg.DagsterInstance, run_id: str, worker: threading.Thread, outcome: _Outcome
) -> str:
    """Cancel the run: interrupt the worker, wait for it, make sure the slots are free."""
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status in (
        dg.DagsterRunStatus.STARTED,
        dg.DagsterRunStatus.STARTING,
    ):
        instance.report_run_canceling(run, message="Interrupted (Ctrl-C or SIGTERM)")
    _raise_in_thread(worker, KeyboardInterrupt)
    stopped = outcome.done.wait(STOP_TIMEOUT_S)
    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceled(run, message="Interrupted (Ctrl-C or SIGTERM)")
    if instance.event_log_storage.supports_global_concurrency_limits:
        instance.event_log_storage.free_concurrency_slots_for_run(run_id)
    status = run.status.value if run is not None else "never stored"
    if not stopped:
        return f"its thread did not stop in {STOP_TIMEOUT_S:.0f} s; marked {status}, slots freed"
    final = instance.get_run_by_id(run_id)
    return f"{final.status.value if final else status}, slots freed"


def _raise_in_thread(thread: threading.Thread, exc: type[BaseException]) -> None:
    """Raise ``exc`` in ``thread`` at its next Python instruction (CPython's async exception)."""
    if thread.ident is None or not thread.is_alive():
        return
    hit = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread.ident), ctypes.py_object(exc)
    )
    if hit > 1:  # never for a live thread's own id; undo rather than hit other threads
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), None)
        raise RuntimeError(f"interrupting thread {thread.name} matched {hit} threads")
    # hit == 0: the thread ended meanwhile, nothing left to interrupt
