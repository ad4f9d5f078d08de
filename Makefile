# platform_assets: make run | make dev | make test | make health | make report | make metrics | make consume | make bench | make lint
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run dev test health report metrics consume worker lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## materialize every asset for yesterday on the embedded default
	$(BIN)/platform run

dev: $(STAMP)  ## Dagster UI + daemon on http://127.0.0.1:3000 with the demo sources
	$(BIN)/platform dev

# Test processes in parallel (pytest-xdist); TEST_WORKERS=0 runs the suite in this process.
# Tests that must not overlap share an xdist_group (loadgroup keeps a group on one worker).
TEST_WORKERS ?= 2

test: $(STAMP)  ## the whole suite (PostgreSQL tests skip without a server)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

health: $(STAMP)  ## per asset: latest partition, freshness, checks, rows, quarantine, alerts
	$(BIN)/platform-health $(HEALTH_ARGS)

report: $(STAMP)  ## the data-quality report (HTML) into $$PLATFORM_REPORT_DIR or .platform/report
	$(BIN)/platform-report $(REPORT_ARGS)

worker: $(STAMP)  ## a dagster-celery worker (deploy/README.md): QUEUES=extract,warehouse CONCURRENCY=4
	PYTHON=$(BIN)/python deploy/worker.sh

metrics: $(STAMP)  ## Prometheus exporter on http://127.0.0.1:9464/metrics (PLATFORM_METRICS_PORT)
	$(BIN)/platform-metrics

consume: $(STAMP)  ## event consumer: RabbitMQ (PLATFORM_RABBITMQ_URL) -> landing.shipment_events
	$(BIN)/platform-consume $(CONSUME_ARGS)

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

# The real path first: `dagster asset materialize` of one orders partition on PostgreSQL and
# on the embedded default, beside \copy and DuckDB's CSV insert (bench/results/materialize.json;
# PLATFORM_BENCH_POSTGRES_URL, default the test server). ~6 min quiet; MATERIALIZE_ARGS="--rows 100000,1000000".
# Then the loading benchmark (ablations of the load and the extract loop without Dagster):
# bench/results/load.json and a table. ~12 min; BENCH_ARGS="--rss-rows 100000,1000000" ~5 min.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.materialize $(MATERIALIZE_ARGS)
	$(BIN)/python -m bench.load $(BENCH_ARGS)
	$(BIN)/python -m bench.scale $(SCALE_ARGS)  # + Redis; 16 partitions 4 ways, ~25 min
	$(BIN)/python -m bench.report  # quality report, 30 tables x 365 partitions, synthetic facts
	$(BIN)/python -m bench.queue $(QUEUE_ARGS)  # + RabbitMQ; 100k and 1M events, ~20 min

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf .platform
