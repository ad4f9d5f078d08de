#!/bin/sh
# A dagster-celery worker for the Celery profile (see deploy/README.md); `make worker` runs it.
#
#   QUEUES       queues to consume, comma-separated (default: extract,warehouse); run
#                coordinators (deploy/dagster.yaml) need a worker of their own: QUEUES=runs
#   CONCURRENCY  pool processes, i.e. steps at once (default: 4)
#   WORKER_NAME  node name prefix; @hostname is appended (default: platform-<pid>)
#   PYTHON       interpreter of the platform's environment (default: .venv/bin/python)
#
# Needs the same environment as the code location: PLATFORM_CELERY_BROKER_URL,
# PLATFORM_CELERY_BACKEND_URL, DAGSTER_HOME + DAGSTER_PG_* (the shared instance),
# PLATFORM_WAREHOUSE_URL and the source settings (PLATFORM_API_*, PLATFORM_SOURCE_DB_URL).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
# dagster_celery_config.py reads the queues: a runs worker gets a pool of its own.
PLATFORM_CELERY_QUEUES="${QUEUES:-extract,warehouse}"
export PYTHONPATH PLATFORM_CELERY_QUEUES
# exec: the worker keeps this pid, so a supervisor's signals reach it directly.
# -I imports the code location (and warms it) before the pool forks: pool processes start warm.
# --prefetch-multiplier=1 with acks_late: a worker reserves only the steps it runs.
exec "${PYTHON:-.venv/bin/python}" -m celery -A dagster_celery.app worker \
  -Q "$PLATFORM_CELERY_QUEUES" \
  --concurrency "${CONCURRENCY:-4}" \
  --prefetch-multiplier=1 \
  -I platform_assets.automation.celery_worker \
  -n "${WORKER_NAME:-platform-$$}@%h" \
  --loglevel "${LOGLEVEL:-INFO}"
