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
# Tests run in parallel (pytest-xdist), one process per core (at most 4), one thread each:
# on a 2-core CPU two single-threaded workers beat one two-threaded process.
TEST_WORKERS ?= -n auto --maxprocesses 4

.PHONY: help lab test unit nbval execute install install-test clean-cache

help:
	@echo "make lab      start JupyterLab on notebooks/ (creates .venv the first time); STUDENT=1: the student version"
	@echo "make test     unit tests + every notebook with nbval, quick profile"
	@echo "make execute  re-run notebooks in place and stamp them (PROFILE=laptop|full, NB=...)"
	@echo "make slides   reveal.js decks + presenter's notes into build/slides/ (SLIDES_ARGS=--code hidden)"
	@echo "make book     the static HTML book into build/book/ (open build/book/index.html)"
	@echo "make student  student notebooks (no solutions) into build/student/, solutions into build/solutions/"

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

# `make lab STUDENT=1` builds the student version (no solutions, build/student/) and opens that.
# As root (a container, Colab, a cloud VM) Jupyter needs --allow-root. LAB_ARGS: more options.
LAB_DIR  = $(if $(STUDENT),build/student,notebooks)
LAB_ROOT = $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)
LAB_ARGS ?=

lab: install $(if $(STUDENT),student,)
	$(BIN)/jupyter lab --notebook-dir=$(LAB_DIR) --ServerApp.ip=127.0.0.1 \
		--config=tools/jupyter_lab_config.py $(LAB_ROOT) $(LAB_ARGS)

test: install-test unit nbval

# --dist loadgroup: the JupyterLab checks (tests/test_lab.py, one server) stay on one worker.
unit: install-test
	LECTURE_PROFILE=quick OMP_NUM_THREADS=1 $(BIN)/python -m pytest tests $(TEST_WORKERS) \
		--dist loadgroup $(PYTEST_ARGS)

nbval: install-test
	LECTURE_PROFILE=quick OMP_NUM_THREADS=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=900 -p no:cacheprovider $(TEST_WORKERS) --dist loadfile \
		--durations=15 notebooks $(PYTEST_ARGS)

execute: install-test
	$(BIN)/python tools/notebooks.py execute --profile $(PROFILE) $(NB)

clean-cache:
	rm -rf data/cache

# Classroom builds from the executed notebooks (tools/README.md). The first run fetches reveal.js
# and MathJax once with npm (tools/web/package-lock.json) so the output works offline.
.PHONY: slides book student classroom browser-deps
SLIDES_ARGS ?=
BOOK_ARGS ?=

slides: install
	$(BIN)/python tools/slides.py $(SLIDES_ARGS)

book: install
	$(BIN)/python tools/book.py $(BOOK_ARGS)

student: install
	$(BIN)/python tools/student.py

classroom: slides book student

# Debian's Chromium for the browser tests of the book and the slides (they skip without it).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
