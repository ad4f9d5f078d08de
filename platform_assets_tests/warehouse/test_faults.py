"""Database faults by kind, from real errors of the real drivers against the test server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import adbc_driver_postgresql.dbapi as adbc
import psycopg
import pytest
import sqlalchemy as sa

from platform_assets.sources.sql import SqlDatabase
from platform_assets.warehouse.faults import Fault, PermanentDatabaseError, classify
from platform_assets.warehouse.resource import Warehouse

PASSWORD = "pw-7f3a9c-not-in-any-message"


def with_parts(
    url: str, user: str = "postgres", host: str = "", port: int = 0, db: str = ""
) -> str:
    """The test server's URL with another role, host, port or database, and a password."""
    parts = urlsplit(url)
    netloc = f"{user}:{PASSWORD}@{host or parts.hostname}:{port or parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, f"/{db}" if db else parts.path, "", ""))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connect_psycopg(url: str) -> None:
    psycopg.connect(url, connect_timeout=5).close()


def connect_adbc(url: str) -> None:
    adbc.connect(url).close()


def connect_sqlalchemy(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        engine.connect().close()
    finally:
        engine.dispose()


DRIVERS = {"psycopg": connect_psycopg, "adbc": connect_adbc, "sqlalchemy": connect_sqlalchemy}


def fault_of(connect: Callable[[str], None], url: str) -> Fault | None:
    with pytest.raises(Exception) as caught:
        connect(url)
    assert PASSWORD not in str(caught.value)
    return classify(caught.value)


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_connection_faults_by_kind_for_every_driver(postgres_url: str, driver: str) -> None:
    connect = DRIVERS[driver]
    cases = {
        "unknown role": with_parts(postgres_url, user="no_such_role_x1"),
        "unknown database": with_parts(postgres_url, db="no_such_database_x1"),
        "unknown host": with_parts(postgres_url, host="no-such-host.invalid"),
    }
    for reason, url in cases.items():
        assert fault_of(connect, url) == Fault("permanent", reason), (driver, reason)
    refused = with_parts(postgres_url, port=_free_port())  # a server restarting looks so
    assert fault_of(connect, refused) == Fault("transient", "connection lost or refused")


def terminate_when_waiting(url: str, pid: int, timeout_s: float = 30) -> None:
    """pg_terminate_backend(pid) as soon as that backend waits on a lock."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                (pid,),
            ).fetchall()
            if waiting:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                return
            time.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited on a lock within {timeout_s} s")


def _terminated(conn_pid: int, admin_url: str, run: Callable[[], object]) -> BaseException:
    """The error ``run`` raises when its backend is terminated while it waits on a lock."""
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(4242)")
        killer = threading.Thread(target=terminate_when_waiting, args=(admin_url, conn_pid))
        killer.start()
        try:
            with pytest.raises(Exception) as caught:
                run()
        finally:
            killer.join()
            admin.execute("SELECT pg_advisory_unlock(4242)")
    return caught.value


def test_a_terminated_backend_is_transient_on_psycopg_and_adbc(postgres_url: str) -> None:
    expected = Fault(
        "transient", "server terminated the connection (admin shutdown), SQLSTATE 57P01"
    )
    with psycopg.connect(postgres_url) as conn:
        pid = conn.info.backend_pid
        error = _terminated(
            pid, postgres_url, lambda: conn.execute("SELECT pg_advisory_lock(4242)")
        )
        assert classify(error) == expected
        with pytest.raises(psycopg.OperationalError) as lost:  # the next statement: no server
            conn.execute("SELECT 1")
        assert classify(lost.value) == Fault("transient", "connection lost or refused")
    conn = adbc.connect(postgres_url)
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT pg_backend_pid()")
        [(pid,)] = cursor.fetchall()

        def wait_for_lock() -> None:
            cursor.execute("SELECT pg_advisory_lock(4242)")
            cursor.fetchall()

        error = _terminated(pid, postgres_url, wait_for_lock)
        assert classify(error) == expected
    finally:
        cursor.close()
        conn.close()


def test_a_deadlock_is_transient(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as first, psycopg.connect(postgres_url) as second:
        first.execute("SELECT pg_advisory_xact_lock(1001)")
        second.execute("SELECT pg_advisory_xact_lock(1002)")
        errors: list[BaseException] = []

        def cross() -> None:
            try:
                second.execute("SELECT pg_advisory_xact_lock(1001)")
            except psycopg.Error as exc:
                errors.append(exc)
                second.rollback()

        waiter = threading.Thread(target=cross)
        waiter.start()
        try:
            first.execute("SELECT pg_advisory_xact_lock(1002)")
        except psycopg.Error as exc:
            errors.append(exc)
            first.rollback()
        waiter.join(timeout=30)
        first.rollback()
    assert len(errors) == 1  # the server breaks a deadlock by failing one of the two
    assert classify(errors[0]) == Fault("transient", "deadlock detected, SQLSTATE 40P01")


def test_an_unsupported_scheme_is_permanent_and_names_the_variable() -> None:
    warehouse = Warehouse(url=f"mysql://root:{PASSWORD}@127.0.0.1/shop")
    with pytest.raises(PermanentDatabaseError) as caught:
        warehouse.preflight()
    assert str(caught.value) == (
        "database connection failed permanently (unknown URL scheme); check the URL in "
        "PLATFORM_WAREHOUSE_URL. Driver said: PLATFORM_WAREHOUSE_URL must start with "
        "duckdb:/// or postgresql://; got a URL with scheme 'mysql'"
    )
    source = SqlDatabase(url=f"nosuchdb://root:{PASSWORD}@127.0.0.1/shop", url_env="SHOP_DB_URL")
    with pytest.raises(PermanentDatabaseError) as caught:
        source.preflight()
    assert caught.value.variable == "SHOP_DB_URL"
    assert caught.value.reason == "unknown URL scheme"
    assert PASSWORD not in str(caught.value)
    driver_suffix = Warehouse(url=f"mysql+pymysql://root:{PASSWORD}@127.0.0.1/shop")
    with pytest.raises(PermanentDatabaseError, match="got a URL with scheme 'mysql\\+pymysql'"):
        driver_suffix.preflight()


def test_a_value_that_is_no_url_is_never_echoed() -> None:
    with pytest.raises(PermanentDatabaseError) as caught:
        Warehouse(url=PASSWORD).preflight()  # the password pasted where the URL belongs
    assert PASSWORD not in str(caught.value)
    assert str(caught.value).endswith("got no URL")


def test_preflight_names_the_variable_and_a_good_url_passes(postgres_url: str) -> None:
    Warehouse(url=postgres_url).preflight()
    SqlDatabase(url=postgres_url, url_env="SHOP_DB_URL").preflight()
    bad = with_parts(postgres_url, db="no_such_database_x2")
    with pytest.raises(PermanentDatabaseError) as caught:
        Warehouse(url=bad).preflight()
    assert caught.value.variable == "PLATFORM_WAREHOUSE_URL"
    assert str(caught.value).startswith(
        "database connection failed permanently (unknown database); check the URL in "
        "PLATFORM_WAREHOUSE_URL. Driver said: "
    )
    with pytest.raises(PermanentDatabaseError) as caught:
        SqlDatabase(url=bad, url_env="SHOP_DB_URL").preflight()
    assert (caught.value.variable, caught.value.reason) == ("SHOP_DB_URL", "unknown database")


def test_duckdb_file_locked_by_another_process_is_transient(tmp_path) -> None:
    """The event consumer and a step may meet on the embedded file: the loser waits."""
    import subprocess
    import sys

    import duckdb

    path = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); "
            "print('held', flush=True); sys.stdin.read()",
        ],  # fmt: skip
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(duckdb.IOException) as caught:
            duckdb.connect(str(path))
        assert classify(caught.value) == Fault("transient", "DuckDB file locked by another process")
    finally:
        holder.communicate("", timeout=30)
