# The two commands a newcomer needs: `make devnet` and `make test`. Both set up what they need,
# idempotently: Debian packages (Node.js; PostgreSQL for the store tests; Chromium and its
# driver for the explorer's browser test) if missing, a .venv from pyproject.toml,
# node_modules from package-lock.json.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.provernet-installed
NPM_STAMP := node_modules/.provernet-installed
# Two workers: this suite is CPU-bound (the embedded EVM) and CI machines have 2 cores.
PYTEST_WORKERS ?= 2

.PHONY: setup system-deps test test-fast devnet contracts bench-gas clean

setup: system-deps $(PY_STAMP) $(NPM_STAMP)

# Node.js for the contracts' and circuits' tooling; PostgreSQL's server binaries for the store
# tests (tests/postgres.py); Debian's Chromium and its chromedriver for the
# explorer's browser test.
system-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing Node.js and npm from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing PostgreSQL from Debian (the store tests start a server of their own)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { \
	  echo "installing chromium and chromium-driver from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

$(PY_STAMP): pyproject.toml $(wildcard zkp/native/*)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# Everything except the tests that start anvil.
test-fast: setup
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not anvil" $(PYTEST_ARGS)

devnet: setup
	$(BIN)/provernet devnet $(DEVNET_ARGS)

# Recompile the Solidity sources into the committed artifacts.
contracts: setup
	$(BIN)/python -m market_contracts.compile

bench-gas: setup
	$(BIN)/python benchmarks/gas.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .hypothesis
