# The commands CI and people run. `make demo` and `make test` bootstrap everything they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citylake-installed
JARS := .cache/jars/jars.lock.json
PII_KEY := .cache/secrets/pii_key
PYTEST_ARGS ?=

.PHONY: help setup demo test test-fast lint typecheck run clean-lake bench airflow dictionary

help:
	@echo "make demo   - set up (venv, packages, jars) and run a demo day end to end"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff and mypy"

$(STAMP): pyproject.toml
	@py=$$(scripts/check_env.sh) || exit 1; \
	if [[ ! -x $(BIN)/python ]]; then echo "creating $(VENV) with $$py"; $$py -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(JARS) $(PII_KEY): $(STAMP)
	$(BIN)/citylake setup

setup: $(STAMP) $(JARS) $(PII_KEY)
	@scripts/check_env.sh >/dev/null

demo: setup
	$(BIN)/citylake demo

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/per_feed_overhead.py
	$(BIN)/python benchmarks/validation_overhead.py

dictionary: $(STAMP)
	$(BIN)/citylake docs --dictionary docs/data_dictionary.md

# Embedded Airflow for humans: SQLite, AIRFLOW_HOME inside the repo (git-ignored), dags/ as the DAG folder.
AIRFLOW_ENV := PATH=$(CURDIR)/$(BIN):$$PATH AIRFLOW_HOME=$(CURDIR)/airflow_home AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__API__PORT=$${AIRFLOW_PORT:-8080}

airflow: setup
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate
	$(AIRFLOW_ENV) $(BIN)/airflow pools set citylake_spark 1 "Spark work: one job at a time on the embedded local[2] Spark"
	@echo "UI: http://localhost:$${AIRFLOW_PORT:-8080}  user: admin  password: airflow_home/simple_auth_manager_passwords.json.generated"
	$(AIRFLOW_ENV) exec $(BIN)/airflow standalone

clean-lake:
	rm -rf lake
