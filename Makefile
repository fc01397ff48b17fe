# Quick start: `make run` (product on embedded defaults) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run test install install-test assets lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install --quiet -e '.[dev,test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

web/static/vendor/.installed: node_modules/.installed scripts/vendor_assets.py $(wildcard assets/modeler/*)
	$(PY) scripts/vendor_assets.py
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
assets: $(VENV)/.installed web/static/vendor/.installed

run: install assets
	$(VENV)/bin/chamados dev

test: install-test assets
	$(PY) -m ruff check engine web tests
	$(PY) -m mypy
	env -u TEST_DATABASE_URL $(PY) -m pytest -q
	@# With TEST_DATABASE_URL set (.ci/run sets it), the suite runs again on PostgreSQL.
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== PostgreSQL: $$TEST_DATABASE_URL"; $(PY) -m pytest -q -m "not browser"; fi

lint: install-test
	$(PY) -m ruff check engine web tests
	$(PY) -m mypy
	$(PY) -m ruff format --check engine web tests

# Benchmarks (bench/): ratios measured side by side; about an hour (a million-ticket queue,
# five-minute burst levels). BENCH_ARGS=--quick: ~14 min.
# The test extras: the mail benchmark runs its own aiosmtpd sink.
bench: install-test
	$(PY) -m bench.run_all $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules web/static/vendor instance
