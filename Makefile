# Two commands on a fresh machine with only Python 3.11+ and make:
#   make run   - create .venv, install, start the product
#   make test  - install the test extras, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench check-data models cross-validate clean

run: $(VENV)/.installed
	$(BIN)/micare-bot db upgrade
	$(BIN)/micare-bot seed-demo
	$(BIN)/micare-bot seed-demo-week
	$(BIN)/micare-bot serve

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python bench/core_bench.py

# the learned triage and intent models, refitted on every labeled set in tests/data
models: $(VENV)/.test-installed
	$(BIN)/micare-bot train-models tests/data/utterances*.jsonl

# each labeled set held out in turn: rules alone vs rules + a model that never saw its author
cross-validate: $(VENV)/.test-installed
	$(BIN)/micare-bot train-models --cross-validate tests/data/utterances*.jsonl

check-data: $(VENV)/.installed
	$(BIN)/micare-bot check-data

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) *.egg-info build
