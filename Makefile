# Two commands a newcomer runs on a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast run check migrate bench clean

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

test-fast: $(STAMP)       ## everything but the end-to-end tests that start campaign-bot run
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q -m "not slow"

run: $(STAMP)             ## the real thing: needs the variables of the README in the environment or .env
	$(BIN)/campaign-bot run

check: $(STAMP)
	$(BIN)/campaign-bot check

migrate: $(STAMP)
	$(BIN)/campaign-bot migrate

bench: $(STAMP)
	$(BIN)/python bench/planning_memory.py
	$(BIN)/python bench/webhook_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis *.egg-info
