# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# Links in the demo's e-mails (var/outbox/*.eml) lead to this server.
export OFLOCAL_PUBLIC_URL ?= http://$(HOST):$(PORT)

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/oflocal db upgrade
	$(BIN)/oflocal demo --if-empty --print-logins --url http://$(HOST):$(PORT)
	$(BIN)/oflocal serve --host $(HOST) --port $(PORT)

# Three workers on a two-core machine: much of the suite's time is spent waiting on
# databases, servers and browsers, and a third worker fills some of it (measured on the
# 2-core machine: 10:27 with two workers, 10:04 with three; 9:46 once the state
# machines ran a few examples fewer; 8:12 for 1,352 tests once each worker built one app
# and pointed it at each test's installation, tests/apps.py).
TEST_WORKERS ?= 3

test: $(STAMP_DEV)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup -q

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP_DEV)
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/pledge_bench.py
	$(BIN)/python bench/mailing_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
