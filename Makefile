PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pinned pair that installs from this machine's disk (no multi-GB download).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint docs docs-figures bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.test-installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[demo,test]'
	touch $@

demo: $(VENV)/.demo-installed
	$(BIN)/losskit demo

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples

test: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks examples docs
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# the documentation site, offline, into site/ (the test suite runs the same strict build)
docs: $(VENV)/.test-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# the report's figures on the family pages (docs/figures/, committed; the docs build draws
# nothing): runs the full report, a few minutes (or: python docs/_figures.py --from DIR)
docs-figures: $(VENV)/.test-installed
	$(BIN)/python docs/_figures.py

bench: $(VENV)/.test-installed
	$(BIN)/losskit bench

clean:
	rm -rf $(VENV) losskit-report .pytest_cache site dist build
