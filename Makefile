# Two commands on a fresh machine with only Python 3.11+ and make:
#   make run   - create .venv, install, start the product
#   make test  - install the test extras, run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench check-data clean

run: $(VENV)/.installed
	$(BIN)/micare-bot db upgrade
	$(BIN)/micare-bot seed-demo
	$(BIN)/micare-bot seed-demo-week
	$(BIN)/micare-bot serve

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/python bench/core_bench.py

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
