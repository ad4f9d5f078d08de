"""Retries by kind in real runs: a database that can never work fails the step once, naming
the variable that holds its URL (never the URL); a transient fault is retried and the run
succeeds. On the real PostgreSQL server, in raw steps and SQL transforms alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from platform_assets.contracts import contracts
from platform_assets.warehouse.sql import lock_key
from platform_assets_tests.conftest import TEST_DAY, Platform
from platform_assets_tests.launcher import platform_run, user_env
from platform_assets_tests.warehouse.test_faults import PASSWORD, with_parts

REPO = Path(__file__).resolve().parents[2]
BAD_WAREHOUSE: dict[str, Callable[[str], str]] = {
    "unknown role": lambda server: with_parts(server, user="no_such_role_r1"),
    "unknown database": lambda server: with_parts(server, db="no_such_database_r1"),
    "unknown host": lambda server: with_parts(server, host="no-such-host.invalid"),
    "unknown URL scheme": lambda server: f"mysql://root:{PASSWORD}@127.0.0.1/shop",
}


def run(platform: Platform, instance: dg.DagsterInstance, *assets: str):
    return (
        platform.definitions()
        .resolve_job_def("daily_job")
        .execute_in_process(
            partition_key=TEST_DAY.isoformat(),
            instance=instance,
            asset_selection=[dg.AssetKey(a) for a in assets],
            raise_on_error=False,
        )
    )


def steps_with(result, event_type: dg.DagsterEventType) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type == event_type]


def failure_description(result) -> str:
    [failure] = result.get_step_failure_events()
    return failure.step_failure_data.user_failure_data.description


def run_log(instance: dg.DagsterInstance, run_id: str) -> str:
    """Every event and message of the run, as stored."""
    return "\n".join(repr(entry) for entry in instance.all_logs(run_id))


@pytest.mark.parametrize("fault", sorted(BAD_WAREHOUSE))
def test_a_warehouse_that_can_never_work_fails_a_raw_step_once_naming_the_variable(
    make_platform, postgres_url: str, fault: str
) -> None:
    url = BAD_WAREHOUSE[fault](postgres_url)
    platform = make_platform(extra_env={"PLATFORM_WAREHOUSE_URL": url})
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(platform, instance, "customers")
        logged = run_log(instance, result.run_id)
    assert not result.success
    assert steps_with(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []  # one attempt
    assert failure_description(result).startswith(
        f"database connection failed permanently ({fault}); "
        "check the URL in PLATFORM_WAREHOUSE_URL. Driver said: "
    )
    assert PASSWORD not in logged and url not in logged


def test_a_source_database_that_can_never_work_names_its_variable(
    make_platform, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform()
    source = with_parts(postgres_url, user="no_such_role_r2")
    monkeypatch.setenv("PLATFORM_SOURCE_DB_URL", source)
    with dg.DagsterInstance.ephemeral() as instance:
        result = run(platform, instance, "customers")
        logged = run_log(instance, result.run_id)
    assert steps_with(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert failure_description(result).startswith(
        "database connection failed permanently (unknown role); "
        "check the URL in PLATFORM_SOURCE_DB_URL. Driver said: "
    )
    assert PASSWORD not in logged


def test_a_sql_transform_on_a_warehouse_that_can_never_work_fails_once(
    make_platform, make_pg_database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform(extra_env={"PLATFORM_WAREHOUSE_URL": make_pg_database()})
    with dg.DagsterInstance.ephemeral() as instance:
        assert run(platform, instance, "customers").success
        monkeypatch.setenv("PLATFORM_WAREHOUSE_URL", with_parts(postgres_url, db="gone_r3"))
        result = run(platform, instance, "stg_customers")
    assert steps_with(result, dg.DagsterEventType.STEP_FAILURE) == ["stg_customers"]
    assert steps_with(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    assert failure_description(result).startswith(
        "database connection failed permanently (unknown database); "
        "check the URL in PLATFORM_WAREHOUSE_URL. Driver said: "
    )


class Terminator(threading.Thread):
    """Holds an advisory lock that a step will wait for, terminates the first backend of
    ``database`` that waits on it (what a server restart does to a step's connection), then
    releases the lock so that the retry goes through."""

    def __init__(self, url: str, database: str, key: str, timeout_s: float = 120) -> None:
        super().__init__(daemon=True)
        self.url, self.database, self.key, self.timeout_s = url, database, key, timeout_s
        self.locked = threading.Event()
        self.terminated: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (self.key,))
                self.locked.set()
                self._terminate_a_waiter(conn)
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self.key,))
        except Exception as exc:  # reported by the test through self.error
            self.error = exc
            self.locked.set()

    def _terminate_a_waiter(self, conn: psycopg.Connection) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
                (self.database,),
            ).fetchall()
            if rows:
                conn.execute("SELECT pg_terminate_backend(%s)", (rows[0][0],))
                self.terminated.append(rows[0][0])
                return
            time.sleep(0.05)
        raise AssertionError(f"no backend waited on {self.key} within {self.timeout_s} s")


def test_a_terminated_connection_in_a_sql_transform_is_retried_and_the_run_succeeds(
    make_platform, make_pg_database
) -> None:
    warehouse_url = make_pg_database()
    platform = make_platform(extra_env={"PLATFORM_WAREHOUSE_URL": warehouse_url})
    stg_customers = contracts()["stg_customers"]
    with dg.DagsterInstance.ephemeral() as instance:
        assert run(platform, instance, "customers").success
        terminator = Terminator(
            warehouse_url, warehouse_url.rsplit("/", 1)[1], lock_key(stg_customers, None)
        )
        terminator.start()
        assert terminator.locked.wait(30) and terminator.error is None
        result = run(platform, instance, "stg_customers")
        terminator.join(30)
        logged = run_log(instance, result.run_id)
    assert terminator.error is None and len(terminator.terminated) == 1
    assert result.success
    assert steps_with(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == ["stg_customers"]
    assert (
        "transient database fault (server terminated the connection (admin shutdown), "
        "SQLSTATE 57P01): left to the step's retry policy"
    ) in logged
    [(raw,)] = platform.warehouse.query('SELECT count(*) FROM "raw"."customers"')
    [(staged,)] = platform.warehouse.query('SELECT count(*) FROM "staging"."stg_customers"')
    assert staged == raw > 0


def test_platform_run_checks_the_warehouse_before_the_run_starts(
    tmp_path: Path, postgres_url: str
) -> None:
    url = with_parts(postgres_url, db="no_such_database_r4")
    proc = platform_run(user_env(PLATFORM_HOME=str(tmp_path / "home"), PLATFORM_WAREHOUSE_URL=url))
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    [line] = [row for row in proc.stderr.splitlines() if row.startswith("platform run:")]
    assert line.startswith(
        "platform run: database connection failed permanently (unknown database); "
        "check the URL in PLATFORM_WAREHOUSE_URL. Driver said: "
    )
    assert PASSWORD not in proc.stdout + proc.stderr
    with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster_home")) as instance:
        assert instance.get_runs_count() == 0  # refused before any run was created


def test_platform_run_refuses_a_bad_duckdb_memory_limit_in_one_line(tmp_path: Path) -> None:
    proc = platform_run(
        user_env(PLATFORM_HOME=str(tmp_path / "home"), PLATFORM_DUCKDB_MEMORY_LIMIT="lots")
    )
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr.strip() == (
        "platform run: PLATFORM_DUCKDB_MEMORY_LIMIT='lots': "
        "Parser Error: Memory must have a number (e.g. 1GB)"
    )
    with dg.DagsterInstance.from_config(str(tmp_path / "home" / "dagster_home")) as instance:
        assert instance.get_runs_count() == 0  # refused before any run was created
