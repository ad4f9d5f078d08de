"""Fixtures for the Celery profile: Redis, a shared dagster-postgres instance, workers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from platform_assets_tests.conftest import service_unavailable
from platform_assets_tests.scale.workers import JobRun, Worker

REDIS_URL = os.environ.get("PLATFORM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture
def celery_env(redis_url: str) -> Iterator[dict[str, str]]:
    """The Celery profile's settings, namespaced per test so no other broker user interferes;
    the namespace's keys are deleted afterwards."""
    prefix = f"platform-test-{uuid.uuid4().hex[:12]}:"
    yield {
        "PLATFORM_EXECUTOR": "celery",
        "PLATFORM_CELERY_BROKER_URL": redis_url,
        "PLATFORM_CELERY_BACKEND_URL": redis_url,
        "PLATFORM_CELERY_KEY_PREFIX": prefix,
    }
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def start_workers(tmp_path: Path) -> Iterator[Callable[..., list[Worker]]]:
    """Starts worker processes with the current environment; always stops them."""
    started: list[Worker] = []

    def start(count: int, concurrency: int = 2, queues: str = "extract,warehouse") -> list[Worker]:
        run = uuid.uuid4().hex[:6]
        workers = [
            Worker(
                name=f"w{index}-{run}",
                log=tmp_path / f"worker{len(started) + index}.log",
                env=dict(os.environ),
                concurrency=concurrency,
                queues=queues,
            )
            for index in range(count)
        ]
        for worker in workers:
            started.append(worker.start())
        for worker in workers:
            worker.wait_ready()
        return workers

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[..., JobRun]]:
    """Starts a run of daily_job for a partition in a process of its own; always stopped."""
    started: list[JobRun] = []

    def start(partition: str, tags: dict[str, str]) -> JobRun:
        log = tmp_path / f"run{len(started)}-{partition}.log"
        run = JobRun(partition, log, dict(os.environ), tags).start()
        started.append(run)
        return run

    yield start
    for run in started:
        run.stop()
