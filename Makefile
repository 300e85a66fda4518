# One entry point for a fresh machine: `make demo` and `make test` both run `setup` first.
# `setup` is idempotent: each step is skipped when its result is already there and up to date.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WEB := local_pavi/web

.PHONY: setup system-tools python web demo test lint stack-down clean

setup: system-tools python web

# clustalo runs the local stack's pipeline; chromium is what Playwright drives (it cannot download its own here).
system-tools:
	@missing=""; \
	command -v clustalo >/dev/null || missing="$$missing clustalo"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	{ command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; } || missing="$$missing chromium"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "missing system tools:$$missing"; \
		echo "  install them with: sudo apt-get install$$missing   (or your system's packages for Clustal Omega and Chromium)"; \
		exit 1; \
	fi

python: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

web: $(WEB)/dist/result.js

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json $(WEB)/package.json
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20+ (Debian: apt-get install nodejs npm)"; exit 1; }
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(WEB)/dist/result.js: $(WEB)/node_modules/.package-lock.json $(wildcard $(WEB)/src/*.js)
	cd $(WEB) && npm run --silent build

# The full validation of gate set phase-2 on the local stack, at the plan's sizes (about 6 minutes).
demo: setup
	$(BIN)/pavi-validate run --gates phase-2

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: python
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

stack-down: python
	$(BIN)/pavi-validate stack down

clean:
	rm -rf $(VENV) $(WEB)/node_modules $(WEB)/dist .pavi runs
