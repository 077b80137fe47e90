# Two commands do all the set-up on a fresh machine (Python 3.10+ and make):
#   make bench     - the main job: every thread configuration x workload, in isolated processes
#   make test-all  - every test (what CI runs: .ci/run, which also installs Chromium and PostgreSQL)
# Both create .venv and install the project into it on first use. Between edits: make test, the fast tier (the
# unit tests, the real-TensorFlow tests that take seconds, and ruff); test-all adds the long ones (-m long).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: bench test test-all lint install clean gate gate-paired gate-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks/ $(ARGS)

test: lint
	$(BIN)/python -m pytest tests/ -m "not long" $(ARGS)

test-all: lint
	$(BIN)/python -m pytest tests/ $(ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .

# Quick benchmarks in 3 processes per case, then the noise-aware gate against this machine's baselines.
gate: $(STAMP)
	$(BIN)/python -m cifar session history --json reports/run.json -- $(ARGS)
	$(BIN)/python -m cifar gate reports/run.json --report reports/gate.json

# The paired gate: this tree against BASE (a git ref), both measured in one session, processes interleaved.
BASE ?= main
gate-paired: $(STAMP)
	mkdir -p reports
	git worktree remove --force reports/base 2>/dev/null || rm -rf reports/base
	git worktree prune
	git worktree add --detach reports/base $(BASE)
	$(BIN)/python -m cifar session paired --baseline-tree=reports/base --json reports/paired.json -- $(ARGS)
	$(BIN)/python -m cifar gate reports/paired.json --report reports/paired-gate.json

# Real paired A/A and A/B sessions (10 % and 5 % slowdowns injected): false alarms and power (9 sessions of 16-24 min, 2.5-3.5 h).
gate-check: $(STAMP)
	$(BIN)/python -m cifar gate-check --keep reports/gate-check-paired

clean:
	rm -rf $(VENV) .pytest_cache
