"""A distinct secret in every secret variable, and none of them anywhere a run leaves text.

``platform run`` as a real child process on a PostgreSQL warehouse and source database whose
URLs carry passwords (the test server trusts 127.0.0.1 and ignores them), then the alert and
lineage sensors, ``platform-metrics --once`` and ``platform-health`` against real local
receivers. Searched: the output of each, every file under PLATFORM_HOME (run storage, event
log with the assets' metadata, logs), every row of the warehouse and alert-state databases,
every request the HTTP receiver got and every mail the SMTP one got.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from platform_assets.redaction import secret_variables
from platform_assets_tests.alerts.receivers import HttpReceiver, SmtpReceiver
from platform_assets_tests.launcher import user_env

REPO = Path(__file__).resolve().parents[1]
SMTP_USER = "alerts-bot"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def planted() -> dict[str, str]:
    """One distinct secret per secret variable; each names its variable (a leak says where)."""
    return {name: f"{name.lower().replace('_', '-')}-{uuid.uuid4().hex[:10]}" for name in (
        "PLATFORM_WAREHOUSE_URL", "PLATFORM_SOURCE_DB_URL", "PLATFORM_ALERT_STATE_URL",
        "PLATFORM_API_TOKEN", "PLATFORM_ALERT_WEBHOOK_URL", "PLATFORM_ALERT_SLACK_WEBHOOK_URL",
        "PLATFORM_ALERT_SMTP_PASSWORD", "PLATFORM_CELERY_BROKER_URL",
        "PLATFORM_CELERY_BACKEND_URL", "PLATFORM_PUSHGATEWAY_URL", "PLATFORM_OPENLINEAGE_URL",
        "PLATFORM_OPENLINEAGE_API_KEY", "PLATFORM_API_RATE_LIMIT_STORE",
    )}  # fmt: skip


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, SmtpReceiver, dict[str, str]]]:
    secrets = planted()
    http = HttpReceiver().start()
    smtp = SmtpReceiver(SMTP_USER, secrets["PLATFORM_ALERT_SMTP_PASSWORD"]).start()
    try:
        yield http, smtp, secrets
    finally:
        http.stop()
        smtp.stop()


def environment(
    tmp_path: Path, databases: list[str], http: HttpReceiver, smtp: SmtpReceiver, s: dict
) -> dict[str, str]:
    warehouse, source, state = databases
    env = user_env()
    env.update(
        PLATFORM_HOME=str(tmp_path / "home"),
        PLATFORM_WAREHOUSE_URL=with_password(warehouse, s["PLATFORM_WAREHOUSE_URL"]),
        PLATFORM_SOURCE_DB_URL=with_password(source, s["PLATFORM_SOURCE_DB_URL"]),
        PLATFORM_ALERT_STATE_URL=with_password(state, s["PLATFORM_ALERT_STATE_URL"]),
        PLATFORM_API_RATE_LIMIT_STORE=with_password(state, s["PLATFORM_API_RATE_LIMIT_STORE"]),
        PLATFORM_API_TOKEN=s["PLATFORM_API_TOKEN"],
        PLATFORM_ALERT_WEBHOOK_URL=f"{http.url}/hook?token={s['PLATFORM_ALERT_WEBHOOK_URL']}",
        PLATFORM_ALERT_SLACK_WEBHOOK_URL=f"{http.url}/slack/{s['PLATFORM_ALERT_SLACK_WEBHOOK_URL']}",
        PLATFORM_ALERT_SMTP_HOST="127.0.0.1",
        PLATFORM_ALERT_SMTP_PORT=str(smtp.port),
        PLATFORM_ALERT_SMTP_USER=SMTP_USER,
        PLATFORM_ALERT_SMTP_PASSWORD=s["PLATFORM_ALERT_SMTP_PASSWORD"],
        PLATFORM_ALERT_SMTP_FROM="dagster@example.com",
        PLATFORM_ALERT_SMTP_TO="oncall@example.com",
        PLATFORM_ALERT_SMTP_TLS="none",
        PLATFORM_CELERY_BROKER_URL=f"redis://:{s['PLATFORM_CELERY_BROKER_URL']}@127.0.0.1:6379/0",
        PLATFORM_CELERY_BACKEND_URL=f"redis://:{s['PLATFORM_CELERY_BACKEND_URL']}@127.0.0.1:6379/1",
        PLATFORM_PUSHGATEWAY_URL=f"{http.url}/push/{s['PLATFORM_PUSHGATEWAY_URL']}",
        PLATFORM_OPENLINEAGE_URL=f"{http.url}/lineage/{s['PLATFORM_OPENLINEAGE_URL']}",
        PLATFORM_OPENLINEAGE_API_KEY=s["PLATFORM_OPENLINEAGE_API_KEY"],
        # 20% defective rows: blocking quarantine-rate gates fail, so the run fails and
        # critical alerts go to every sink (warnings would reach the log and Slack only).
        PLATFORM_DEMO_DEFECT_RATE="0.2",
    )
    return env


def tick_sensors(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every alert sensor and the lineage sensor once, as the daemon would (dispatch last)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith(("PLATFORM_", "DAGSTER_")) and n not in env]:
        monkeypatch.delenv(name)
    from platform_assets.definitions import build_definitions

    defs = build_definitions()
    names = [
        sensor.name
        for sensor in defs.sensors or []
        if ("alert" in sensor.name or "lineage" in sensor.name)
        and not isinstance(sensor, dg.RunStatusSensorDefinition)  # reacts to a failed run only
    ]
    names.sort(key=lambda n: n == "alert_dispatch_sensor")
    results = []
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            results.append(f"run_failure_alert_sensor: {run_failure_tick(instance, defs, run)}")
        for name in names:
            with dg.build_sensor_context(
                instance=instance, definitions=defs, sensor_name=name, resources=defs.resources
            ) as context:
                results.append(f"{name}: {defs.resolve_sensor_def(name)(context)}")
    return results


def without_auth(headers: Mapping[str, str]) -> dict[str, str]:
    """The lineage API key is meant to reach its receiver, in this header only."""
    return {k: v for k, v in headers.items() if k != "authorization"}


def run_failure_tick(
    instance: dg.DagsterInstance, defs: dg.Definitions, run: dg.DagsterRun
) -> object:
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    failures = [r.event_log_entry.get_dagster_event() for r in records.records]
    if not failures:
        return "run did not fail"
    with dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert_sensor",
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failures[0],
        resources=defs.resources,
    ) as context:
        return defs.resolve_sensor_def("run_failure_alert_sensor")(context.for_run_failure())


def database_text(url: str) -> str:
    """Every row of every table of a database, as text (alert state, warehouse tables)."""
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return "\n".join(
            str(row)
            for schema, table in tables
            for row in conn.execute(
                sql.SQL("SELECT t::text FROM {}.{} t").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
        )


def everything_under(home: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in sorted(home.rglob("*"))
        if path.is_file()
    )


def test_no_secret_anywhere_a_run_leaves_text(
    tmp_path: Path, make_pg_database, receivers, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, smtp, secrets = receivers
    databases = [make_pg_database() for _ in range(3)]  # warehouse, source, alert state
    env = environment(tmp_path, databases, http, smtp, secrets)
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [str(bin_dir / "platform"), "run"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert "run " in run.stdout and "asset " in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]
    env["DAGSTER_HOME"] = str(tmp_path / "home" / "dagster_home")
    ticks = tick_sensors(env, monkeypatch)
    # The one list knows every planted variable: the platform's own, and the sources' that
    # the loaded definitions read as EnvVar (PLATFORM_SOURCE_DB_URL from storefront_db...).
    assert set(secrets) - set(secret_variables()) == set()
    metrics = subprocess.run(
        [str(bin_dir / "platform-metrics"), "--once"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert metrics.returncode == 0, metrics.stderr[-3000:]
    health = subprocess.run(
        [str(bin_dir / "platform-health")], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert health.returncode == 0 and "alerts" in health.stdout, health.stderr[-3000:]
    # Each outlet really carried something (else finding no secret there would prove nothing).
    assert http.posts("/hook") and http.posts("/slack/") and smtp.inbox, "\n".join(ticks)
    assert http.posts("/lineage/") and [r for r in http.requests if r.path.startswith("/push/")]
    outputs = {
        "platform run stdout": run.stdout,
        "platform run stderr": run.stderr,
        "platform-metrics output": metrics.stdout + metrics.stderr,
        "platform-health output": health.stdout + health.stderr,
        "warehouse and alert-state databases": "\n".join(
            database_text(url) for url in (databases[0], databases[2])
        ),
        "sensor ticks": "\n".join(ticks),
        "files under PLATFORM_HOME": everything_under(tmp_path / "home"),
        "HTTP receiver (webhook, Slack, lineage, Pushgateway)": "\n".join(
            r.body.decode(errors="replace") + repr(without_auth(r.headers)) for r in http.requests
        ),
        "SMTP receiver": "\n".join(m.as_string() for m in smtp.inbox),
    }
    leaks = [
        f"{variable} in {where}"
        for where, text in outputs.items()
        for variable, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
