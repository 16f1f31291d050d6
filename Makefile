# Two commands for a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both create .venv if missing and install what they need; torch stays on the local CPU build
# through constraints.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed
WORKSPACE ?= workspace
PORT   ?= 5006
# test modules run on this many worker processes (pytest-xdist, one module per worker at a time)
TEST_WORKERS ?= 2
export PIP_DISABLE_PIP_VERSION_CHECK=1
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1

.PHONY: demo test install browser notebooks lab serve bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never downloads one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null; fi; }

demo: install
	$(VENV)/bin/workbench demo --workspace $(WORKSPACE) --port $(PORT)

test: install browser
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

notebooks: install
	$(PY) -m workbench.notebooks.runner --full

lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

serve: install
	$(VENV)/bin/workbench serve --workspace $(WORKSPACE) --port $(PORT)

bench: install
	$(PY) benchmarks/ingest.py
	$(PY) benchmarks/evaluate.py
	$(PY) benchmarks/embed.py
	$(PY) benchmarks/dashboard.py
	$(PY) benchmarks/models.py
	$(PY) benchmarks/api.py

clean:
	rm -rf $(VENV) test-output .pytest_cache
