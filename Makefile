# Two commands on a fresh machine with Python 3.11+:
#   make demo   -> creates .venv if missing, installs nanobridge, runs the bench-to-clinic demo
#   make test   -> creates .venv if missing, installs nanobridge + dev tools, runs ruff, mypy, pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.nanobridge-installed
DEVSTAMP := $(VENV)/.nanobridge-dev-installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $(STAMP)

$(DEVSTAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(DEVSTAMP)

demo: $(STAMP)
	$(BIN)/nanobridge demo --out nanobridge-report

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks

typecheck: $(DEVSTAMP)
	$(BIN)/mypy src/nanobridge

pytest: $(DEVSTAMP)
	$(BIN)/python -m pytest -q -n auto

test: lint typecheck pytest

bench: $(DEVSTAMP)
	$(BIN)/python benchmarks/pbpk_population.py

clean:
	rm -rf $(VENV) nanobridge-report .pytest_cache .mypy_cache .ruff_cache
