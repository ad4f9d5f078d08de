"""``make metrics``: a small Prometheus exporter reading the Dagster instance.

Serves /metrics on PLATFORM_METRICS_ADDR:PLATFORM_METRICS_PORT (127.0.0.1:9464) and polls
the instance every ``--interval`` seconds. With PLATFORM_RABBITMQ_URL set it also reads each
pushed event stream's queue depth and consumer lag (the landing table in the warehouse, the
queue on the broker); without it there is no stream to observe (the embedded default).
With PLATFORM_PUSHGATEWAY_URL set it also pushes the registry to that Pushgateway after each
poll (``--once`` polls and pushes once, for cron).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping

import dagster as dg
from prometheus_client import push_to_gateway, start_http_server

from platform_assets.alerts.lag import StreamLag, stream_lag
from platform_assets.alerts.resource import alert_state_url
from platform_assets.alerts.store import AlertStore
from platform_assets.automation.instance import open_instance
from platform_assets.contracts import Contract, contracts
from platform_assets.home import embedded_warehouse_url
from platform_assets.observability.metrics import PlatformMetrics
from platform_assets.redaction import redact, url_secrets
from platform_assets.sources.broker import EventBroker
from platform_assets.warehouse.resource import Warehouse

log = logging.getLogger("platform_assets.metrics")
PUSH_JOB = "platform_assets"
BROKER_ENV = "PLATFORM_RABBITMQ_URL"


class PushError(RuntimeError):
    """The Pushgateway refused or was unreachable; the message is free of secrets."""


def push(url: str, metrics: PlatformMetrics) -> None:
    try:
        push_to_gateway(url, job=PUSH_JOB, registry=metrics.registry, timeout=10)
    except OSError as exc:  # urllib's URLError/HTTPError are OSErrors
        reason = redact(f"{type(exc).__name__}: {exc}", url_secrets(url))
        raise PushError(f"push to the Pushgateway failed: {reason}") from None


def stream_lags(env: Mapping[str, str], now: float) -> list[tuple[Contract, StreamLag]]:
    """Every pushed stream (a contract with a late-arrival window) when a broker is set."""
    if not env.get(BROKER_ENV):
        return []
    warehouse = Warehouse(url=env.get("PLATFORM_WAREHOUSE_URL") or embedded_warehouse_url(env))
    broker = EventBroker(url=env[BROKER_ENV], url_env=BROKER_ENV)
    streams = [c for c in contracts().values() if c.late_arrival is not None]
    return [(c, stream_lag(warehouse, broker, c.table, now)) for c in streams]


def poll_once(
    instance: dg.DagsterInstance, metrics: PlatformMetrics, env: Mapping[str, str]
) -> int:
    store = AlertStore(alert_state_url(env))
    now = time.time()
    runs = metrics.poll(instance, store, now)
    for contract, lag in stream_lags(env, now):
        metrics.observe_stream(contract, lag)
    if env.get("PLATFORM_PUSHGATEWAY_URL"):
        push(env["PLATFORM_PUSHGATEWAY_URL"], metrics)
    return runs


def serve(env: Mapping[str, str], interval: float, once: bool) -> int:
    metrics = PlatformMetrics()
    with open_instance() as instance:
        if once:
            runs = poll_once(instance, metrics, env)
            print(f"platform-metrics: {runs} finished run(s) read")
            return 0
        addr = env.get("PLATFORM_METRICS_ADDR", "127.0.0.1")
        port = int(env.get("PLATFORM_METRICS_PORT", "9464"))
        start_http_server(port, addr=addr, registry=metrics.registry)
        print(f"platform-metrics: http://{addr}:{port}/metrics (every {interval:g} s)", flush=True)
        while True:
            try:
                poll_once(instance, metrics, env)
            except PushError as exc:  # scraping still works: keep serving, say it loudly
                log.error("%s; retried after the next poll", exc)
            time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    from platform_assets.home import prepare_environment

    parser = argparse.ArgumentParser(prog="platform-metrics", description=__doc__)
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between polls")
    parser.add_argument("--once", action="store_true", help="poll (and push) once, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    prepare_environment(os.environ)  # type: ignore[arg-type]
    try:
        return serve(os.environ, args.interval, args.once)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
