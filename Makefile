# The commands CI and people run. `make demo` and `make test` bootstrap everything they need.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citylake-installed
JARS := .cache/jars/jars.lock.json
PII_KEY := .cache/secrets/pii_key
WEB := .cache/web/web.lock.json
CLASSES := .cache/jvm/archive.json
PYTEST_ARGS ?=
# two workers (tests/conftest.py keeps each module, and the demo lake's users, in one)
TEST_WORKERS ?= 2
# MinIO for the cluster tests, built from the Go module proxy (the only place this machine can
# get it); pinned, and rebuilt only when missing. Go's module and build caches make a rebuild fast.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO := .cache/bin/minio

.PHONY: help setup browser ldap demo sql test test-fast lint clean-lake bench airflow dictionary docs-reference docs minio checkov

help:
	@echo "make demo           - set up (venv, packages, jars) and run a demo day end to end"
	@echo "make test           - set up and run the whole test suite (two workers)"
	@echo "make setup          - the set-up alone: venv, jars, npm files, local PII key, JVM classes"
	@echo "make test-fast      - the tests without the end-to-end tier"
	@echo "make lint           - ruff, mypy and the import-layering contract"
	@echo "make sql            - the SQL endpoint for BI tools on 127.0.0.1:10000"
	@echo "make airflow        - Airflow standalone with citylake's DAGs"
	@echo "make bench          - every benchmark figure against its target"
	@echo "make docs           - regenerate the generated pages (make dictionary, make docs-reference)"
	@echo "make checkov        - checkov over infra/terraform, offline"
	@echo "make minio, browser, ldap - what the tests need (make test runs them)"
	@echo "make clean-lake     - delete the local lake"

$(STAMP): pyproject.toml
	@py=$$(scripts/check_env.sh) || exit 1; \
	if [[ ! -x $(BIN)/python ]]; then echo "creating $(VENV) with $$py"; $$py -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(JARS) $(PII_KEY) $(WEB) $(CLASSES): $(STAMP)
	$(BIN)/citylake setup

setup: $(STAMP) $(JARS) $(PII_KEY) $(WEB) $(CLASSES)
	@scripts/check_env.sh >/dev/null

demo: setup
	$(BIN)/citylake demo

$(MINIO):
	@command -v go >/dev/null || { echo "the cluster tests need Go to build MinIO (https://go.dev/dl)"; exit 1; }
	GOBIN=$(CURDIR)/.cache/bin GOFLAGS=-trimpath go install github.com/minio/minio@$(MINIO_VERSION)

minio: $(MINIO)

# Debian's Chromium for the page tests (Data Docs, the run report), installed when missing
browser:
	@command -v chromium >/dev/null || { [[ $$(id -u) == 0 ]] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		{ echo "the page tests need Debian's chromium: sudo apt-get install chromium"; exit 1; }

# Debian's OpenLDAP server and tools for the SQL endpoint's tests (a real directory; each test
# runs its own slapd on loopback), installed when missing. The package is told to configure no
# directory of its own, and any slapd service it set up is stopped and disabled.
ldap:
	@if ! { command -v slapd || [[ -x /usr/sbin/slapd ]]; } >/dev/null || ! command -v ldapwhoami >/dev/null; then \
		[[ $$(id -u) == 0 ]] || { echo "the SQL endpoint tests need Debian's slapd and ldap-utils: sudo make ldap"; exit 1; }; \
		apt-get update -qq && echo "slapd slapd/no_configuration boolean true" | debconf-set-selections && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slapd ldap-utils >/dev/null || exit 1; \
		{ service slapd stop; update-rc.d slapd disable; } >/dev/null 2>&1 || true; \
	fi

test: setup $(MINIO) browser ldap
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every figure against its target: benchmarks/results.json (or $$BENCH_OUT) and benchmarks/RESULTS.md.
# BENCH_QUICK=1: the smoke profile (at most 5 minutes).
bench: setup
	$(BIN)/python -m benchmarks

dictionary: $(STAMP)
	$(BIN)/citylake docs --dictionary docs/data_dictionary.md

# The reference pages under docs/reference/ (command line, configuration, registry formats, lake
# layout), generated from the code; tests/docs fails when a committed one is stale.
docs-reference: $(STAMP)
	$(BIN)/python -m citylake.cli.reference

# every generated page the repository commits
docs: dictionary docs-reference

# Embedded Airflow for humans: SQLite, AIRFLOW_HOME inside the repo (git-ignored), dags/ as the DAG folder.
AIRFLOW_ENV := PATH=$(CURDIR)/$(BIN):$$PATH AIRFLOW_HOME=$(CURDIR)/airflow_home AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False AIRFLOW__API__PORT=$${AIRFLOW_PORT:-8080}

airflow: setup
	$(AIRFLOW_ENV) $(BIN)/airflow db migrate
	$(AIRFLOW_ENV) $(BIN)/airflow pools set citylake_spark 1 "Spark work: one job at a time on the embedded local[2] Spark"
	@echo "UI: http://localhost:$${AIRFLOW_PORT:-8080}  user: admin  password: airflow_home/simple_auth_manager_passwords.json.generated"
	@echo "OpenLineage: $${OPENLINEAGE_URL:-files under the lake's _system/lineage (set OPENLINEAGE_URL for Marquez)}"
	$(AIRFLOW_ENV) exec env $$($(BIN)/python -m citylake.engine.lineage) $(BIN)/airflow standalone

# The SQL endpoint for BI tools: Spark's Thrift JDBC/ODBC server on 127.0.0.1:$${CITYLAKE_SQL_PORT:-10000},
# read-only, for the analyst role; it prints the embedded account's user and password file
sql: setup
	$(BIN)/citylake serve-sql

clean-lake:
	rm -rf lake

# checkov over infra/terraform, offline, in its own venv (its pins clash with the project's)
checkov:
	scripts/checkov.sh
