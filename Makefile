# The course's commands. `make lab` starts the course; `make test` runs every test.
# Both create .venv (Python 3.11+) and install what they need the first time.

PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# Torch as this course is tested with; elsewhere override, e.g. `make lab TORCH="torch torchvision"`.
TORCH   ?= torch==2.14.1 torchvision==0.29.1
KERNEL  := lecture-suite
# Profile for `make execute` (the outputs committed for readers): laptop or full, never quick.
PROFILE ?= laptop
NB      ?= notebooks/*.ipynb
PYTEST_ARGS ?=

.PHONY: help lab test unit nbval execute install install-test clean-cache

help:
	@echo "make lab      start JupyterLab on notebooks/ (creates .venv the first time)"
	@echo "make test     unit tests + every notebook with nbval, quick profile"
	@echo "make execute  re-run notebooks in place and stamp them (PROFILE=laptop|full, NB=...)"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (lecture suite)"
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lab: install
	$(BIN)/jupyter lab --notebook-dir=notebooks --ServerApp.ip=127.0.0.1

test: install-test unit nbval

unit: install-test
	LECTURE_PROFILE=quick $(BIN)/python -m pytest tests $(PYTEST_ARGS)

nbval: install-test
	LECTURE_PROFILE=quick $(BIN)/python -m pytest --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 -p no:cacheprovider notebooks $(PYTEST_ARGS)

execute: install-test
	$(BIN)/python tools/notebooks.py execute --profile $(PROFILE) $(NB)

clean-cache:
	rm -rf data/cache
