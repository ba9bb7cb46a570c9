# Two commands a newcomer runs on a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast test-unit test-e2e run check migrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)            ## everything local, no accounts: embedded Postgres, Slack and Mailjet stand-ins
	$(BIN)/campaign-bot demo

test: $(STAMP)            ## the whole suite (end-to-end tests included); imports checked first
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)       ## unit, db and contract tests: everything but the end-to-end tests (tests/e2e)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q tests/unit tests/db tests/contract

test-unit: $(STAMP)       ## pure tests only: no database, no network (seconds)
	$(BIN)/python -m pytest -q tests/unit

test-e2e: $(STAMP)        ## the end-to-end tests: campaign-bot run against the stand-ins, and the demo
	$(BIN)/python -m pytest -q tests/e2e

run: $(STAMP)             ## the real thing: needs the variables of the README in the environment or .env
	$(BIN)/campaign-bot run

check: $(STAMP)
	$(BIN)/campaign-bot check

migrate: $(STAMP)
	$(BIN)/campaign-bot migrate

bench: $(STAMP)
	$(BIN)/python bench/planning_memory.py
	$(BIN)/python bench/webhook_ingest.py
	$(BIN)/python bench/status_latency.py
	$(BIN)/python bench/launch_lateness.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
