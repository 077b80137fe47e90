# Two commands do all the set-up on a fresh machine (Python 3.10+ and make):
#   make bench   - the main job: every thread configuration x workload, in isolated processes
#   make test    - the correctness tests of the package
# Both create .venv and install the project into it on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: bench test install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks/ $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest tests/ $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
