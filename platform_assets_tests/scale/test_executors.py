"""The executor choice (PLATFORM_EXECUTOR) and the Celery settings both sides share."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.automation.celery_runs import CeleryRunLauncher
from platform_assets.automation.executors import (
    EXTRACT_QUEUE,
    MULTIPROCESS,
    QUEUE_TAG,
    RUNS_QUEUE,
    WAREHOUSE_QUEUE,
    WORKER_QUEUES_ENV,
    build_executor,
    celery_queue,
    celery_settings,
    runs_worker,
    worker_settings,
)
from platform_assets.definitions import build_definitions
from platform_assets_tests.launcher import user_env
from platform_assets_tests.scale.workers import REPO

BROKER = "redis://:s3cret@broker.internal:6379/0"
CELERY_ENV = {
    "PLATFORM_EXECUTOR": "celery",
    "PLATFORM_CELERY_BROKER_URL": BROKER,
    "PLATFORM_CELERY_BACKEND_URL": BROKER,
    "PLATFORM_WAREHOUSE_URL": "postgresql://etl@db.internal/warehouse",
}


def test_default_and_in_process_executors() -> None:
    assert build_executor({}) is MULTIPROCESS
    assert build_executor({"PLATFORM_EXECUTOR": "multiprocess"}) is MULTIPROCESS
    assert build_executor({"PLATFORM_EXECUTOR": "in_process"}) is dg.in_process_executor
    with pytest.raises(ValueError, match=r"one of \('multiprocess', 'in_process', 'celery'\)"):
        build_executor({"PLATFORM_EXECUTOR": "dask"})


def test_steps_fork_from_a_server_that_preloaded_the_code_location(tmp_path: Path) -> None:
    """The preload builds the definitions once and leaves no connection for a fork to share."""
    assert MULTIPROCESS.name == dg.multi_or_in_process_executor.name
    probe = (
        "import os, platform_assets.automation.step_preload\n"
        "from platform_assets.definitions import _built_for\n"
        "print(_built_for.cache_info().currsize)\n"
        "fds = [f'/proc/self/fd/{fd}' for fd in os.listdir('/proc/self/fd')]\n"
        "print(sum(os.readlink(f).startswith('socket:') for f in fds if os.path.exists(f)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env=user_env(PLATFORM_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")
    assert out[:2] == ["1", "0"]  # the definitions built once; no socket open


def test_celery_needs_broker_backend_and_a_postgres_warehouse() -> None:
    with pytest.raises(
        RuntimeError, match="needs PLATFORM_CELERY_BROKER_URL, PLATFORM_CELERY_BACKEND_URL"
    ):
        build_executor({"PLATFORM_EXECUTOR": "celery"})
    embedded = {**CELERY_ENV, "PLATFORM_WAREHOUSE_URL": "duckdb:///w.duckdb"}
    with pytest.raises(RuntimeError, match="needs a PostgreSQL warehouse"):
        build_executor(embedded)


def test_celery_executor_reads_urls_where_it_starts(monkeypatch) -> None:
    """The definition holds env var names only: the URLs (and passwords) are read when the
    executor's config is resolved, in the process that runs the run."""
    for name in ("PLATFORM_CELERY_BROKER_URL", "PLATFORM_CELERY_BACKEND_URL"):
        monkeypatch.delenv(name, raising=False)
    executor = build_executor(CELERY_ENV)
    assert executor.name == "celery"
    unresolved = executor.apply_config_mapping({})
    assert not unresolved.success
    assert "PLATFORM_CELERY_BROKER_URL" in str(unresolved.errors)
    monkeypatch.setenv("PLATFORM_CELERY_BROKER_URL", "redis://elsewhere:6379/1")
    monkeypatch.setenv("PLATFORM_CELERY_BACKEND_URL", "redis://elsewhere:6379/2")
    resolved = executor.apply_config_mapping({}).value["config"]
    assert (resolved["broker"], resolved["backend"]) == (
        "redis://elsewhere:6379/1",
        "redis://elsewhere:6379/2",
    )
    assert resolved["config_source"]["task_acks_late"] is True


def test_the_code_location_uses_the_chosen_executor(monkeypatch) -> None:
    for name, value in CELERY_ENV.items():
        monkeypatch.setenv(name, value)
    assert build_definitions().resolve_job_def("daily_job").executor_def.name == "celery"


def test_settings_acknowledge_late_and_redeliver() -> None:
    settings = celery_settings({"PLATFORM_CELERY_VISIBILITY_TIMEOUT_S": "30"})
    assert settings["task_acks_late"] and settings["task_reject_on_worker_lost"]
    assert settings["worker_prefetch_multiplier"] == 1
    transport = settings["broker_transport_options"]
    assert transport["visibility_timeout"] == 30
    assert (transport["unacked_restore_interval"], transport["unacked_restore_throttle"]) == (3, 1)
    assert "global_keyprefix" not in transport
    prefixed = celery_settings({"PLATFORM_CELERY_KEY_PREFIX": "staging:"})
    assert prefixed["broker_transport_options"]["global_keyprefix"] == "staging:"
    assert prefixed["broker_transport_options"]["visibility_timeout"] == 3600
    with pytest.raises(ValueError, match="PLATFORM_CELERY_VISIBILITY_TIMEOUT_S must be"):
        celery_settings({"PLATFORM_CELERY_VISIBILITY_TIMEOUT_S": "1h"})


def test_worker_configuration_module_reads_the_environment(monkeypatch) -> None:
    with pytest.raises(RuntimeError, match="needs PLATFORM_CELERY_BROKER_URL"):
        worker_settings({})
    for name, value in CELERY_ENV.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location(
        "dagster_celery_config", REPO / "deploy" / "dagster_celery_config.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.broker_url == BROKER and module.result_backend == BROKER
    assert module.task_acks_late is True


def test_steps_are_routed_by_kind_of_work() -> None:
    job = build_definitions().resolve_job_def("daily_job")
    queues = {node.name: node.tags.get(QUEUE_TAG) for node in job.nodes}
    assert {queues[t] for t in ("orders", "payments", "customers", "marketing_spend")} == {
        EXTRACT_QUEUE
    }
    assert {queues[t] for t in ("stg_orders", "daily_revenue_by_country")} == {WAREHOUSE_QUEUE}
    assert set(queues.values()) == {EXTRACT_QUEUE, WAREHOUSE_QUEUE}
    with pytest.raises(ValueError, match="unknown Celery queue 'gpu'"):
        celery_queue("gpu")


def test_a_runs_worker_consumes_nothing_else() -> None:
    assert runs_worker({}) is False
    assert runs_worker({WORKER_QUEUES_ENV: "extract,warehouse"}) is False
    assert runs_worker({WORKER_QUEUES_ENV: " runs "}) is True
    env = {**CELERY_ENV, WORKER_QUEUES_ENV: "runs,extract"}
    with pytest.raises(RuntimeError, match=r"'runs' queue consumes nothing else.*QUEUES=runs"):
        worker_settings(env)  # the worker fails at start, before taking any task


def test_celery_profile_instance_differs_only_in_its_run_launcher(monkeypatch) -> None:
    default = yaml.safe_load((REPO / "deploy" / "postgres" / "dagster.yaml").read_text())
    celery = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    launcher = celery.pop("run_launcher")
    assert celery == default
    assert launcher == {
        "module": "platform_assets.automation.celery_runs",
        "class": "CeleryRunLauncher",
    }
    for name, value in CELERY_ENV.items():
        monkeypatch.setenv(name, value)
    instance_config = {"run_launcher": launcher}  # storage aside: an ephemeral instance
    with dg.instance_for_test(overrides=instance_config) as instance:
        run_launcher = instance.run_launcher
        assert isinstance(run_launcher, CeleryRunLauncher)
        assert run_launcher.default_queue == RUNS_QUEUE
        assert run_launcher.broker == BROKER
        assert run_launcher.celery.conf.task_acks_late is True  # the shared settings
        assert "s3cret" not in repr(run_launcher.inst_data)  # nothing secret is stored
