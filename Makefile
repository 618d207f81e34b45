# GNU make. Everything runs from the project's own virtualenv (.venv), made on first use with a
# Python >= 3.11 found on PATH. Set PYTHON=/path/to/python to choose one yourself.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# Deferred (=): only looked up when the venv has to be created.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	if command -v $$p >/dev/null 2>&1 && \
	   $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	  command -v $$p; break; fi; done)

# Stamps: reinstall only when pyproject.toml changes (or the venv is new).
DEV_STAMP := $(VENV)/.durable-dev.stamp
TEST_STAMP := $(VENV)/.durable-test.stamp
PG_STAMP := $(VENV)/.durable-postgres.stamp

.PHONY: help dev test lint typecheck pytest bench bench-peers clean soak soak-pg

help:
	@echo "make dev    - install (editable) and run the dev server on examples/"
	@echo "              (make dev PORT=9000, make dev ARGS=\"--no-tui --db :memory:\")"
	@echo "make test   - install with test extras, then ruff (lint, format), mypy and pytest"
	@echo "make bench  - run the benchmarks (bench/all.py): one table against the SPEC targets"
	@echo "make bench-peers - the DBOS Transact peer (its own venv), then bench/pg_throughput.py"
	@echo "make soak   - kill -9 soak: 20 cycles over 200 runs"
	@echo "make soak-pg - 3 servers on one PostgreSQL (DURABLE_TEST_PG): kill -9, SIGSTOP, audit"
	@echo "make clean  - remove build artefacts and caches (keeps .venv)"

$(PY):
	@if [ -z "$(PYTHON)" ]; then \
	  echo "error: no Python >= 3.11 on PATH (tried python3.13 python3.12 python3.11 python3);" \
	       "set PYTHON=/path/to/python" >&2; exit 2; fi
	$(PYTHON) -m venv $(VENV)

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(DEV_STAMP)

# The bench drives PostgreSQL too (bench/pg_throughput.py): psycopg, from the postgres extra.
$(PG_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[postgres]'
	touch $@ $(DEV_STAMP)

# `make dev ARGS="--no-tui --db :memory:"` passes options to `durable dev`; `make dev PORT=9000`
# sets the port (from the command line only: a PORT in the environment is someone else's).
ARGS ?=
dev: $(DEV_STAMP)
	$(VENV)/bin/durable dev examples/ $(if $(filter command line,$(origin PORT)),--port $(PORT)) $(ARGS)

test: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

bench: $(PG_STAMP)
	$(PY) bench/all.py

# The peer runs in its own virtualenv (bench/peers/dbos/.venv, made by run.sh): DBOS is not a
# dependency of durable. This target makes that venv, runs the peer (its result.json), then
# pg_throughput beside it. Once the venv exists, `make bench` runs the peer by itself too.
bench-peers: $(PG_STAMP)
	PYTHON=$(PYTHON) bench/peers/dbos/run.sh --runs 1000
	$(PY) bench/pg_throughput.py --no-peer

soak: $(DEV_STAMP)
	$(PY) bench/soak.py

soak-pg: $(TEST_STAMP)
	$(PY) bench/soak_pg.py

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
