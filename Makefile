# platform_assets: make run | make dev | make test | make bench | make lint
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run dev test lint format bench clean

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

test: $(STAMP)  ## the whole suite (PostgreSQL tests skip without a server)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf .platform
