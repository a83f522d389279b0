PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: help install test test-all bench clean

help:  ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install:  ## create .venv and install gantrain (editable) with pinned torch
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -c constraints.txt -e '.[test]'

test:  ## run the test suite (CPU, wandb disabled)
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n 2

bench:  ## step time per rule and the default command's wall time/memory (see benchmarks/results.md)
	$(BIN)/python benchmarks/bench_step_time.py
	$(BIN)/python benchmarks/bench_default_run.py

clean:  ## remove run outputs
	rm -rf outputs multirun
