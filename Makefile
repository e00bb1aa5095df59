# Two commands: `make run` serves the API with the embedded defaults, `make test` runs the suite.
# Both set up .venv first and are safe to repeat.

ifndef PYTHON
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11; do $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install lock lint typecheck schema bench graphiql-assets web clean

# Exact versions with hashes, from pyproject.toml's ranges (`make lock`): the runtime lock is the
# one the image installs, the dev lock adds the dev extra on top of the same runtime versions.
# Both are universal (uv's markers), so that one lock serves every Python 3.11+ and platform.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# uv in a venv of its own, so that it never enters the locked one.
LOCK_VENV := $(VENV)/lock-tools
UV_COMPILE := $(LOCK_VENV)/bin/uv pip compile --quiet --universal --generate-hashes \
	--custom-compile-command "make lock"

$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	@test -n "$(PYTHON)" || { echo "switchboard: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Re-pin both locks after a change to pyproject.toml's dependencies, keeping every pin that still
# fits; `make lock LOCK_ARGS=--upgrade` moves each to its newest version in range.
lock:
	@test -n "$(PYTHON)" || { echo "switchboard: Python 3.11 or newer is required" >&2; exit 1; }
	@test -x $(LOCK_VENV)/bin/uv || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/python -m pip install --quiet uv==0.13.8; }
	$(UV_COMPILE) $(LOCK_ARGS) --output-file $(LOCK) pyproject.toml
	$(UV_COMPILE) $(LOCK_ARGS) --extra dev --constraints $(LOCK) --output-file $(DEV_LOCK) pyproject.toml

run: $(STAMP)
	@$(BIN)/switchboard migrate
	@$(BIN)/switchboard seed-demo
	@$(BIN)/switchboard serve

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

schema: $(STAMP)
	$(BIN)/switchboard export-schema

# Issue 15's targets: the inbox pages (cold, warm, the stock Strawberry baseline, memory), then
# webhook acks and 1,000 subscribers; about 6 minutes on a quiet 2-core machine.
bench: $(STAMP)
	$(BIN)/python -m bench.inbox
	$(BIN)/python -m bench.realtime

# Re-download the pinned GraphiQL, React and React DOM files (npm pack) into server/graphiql/assets/
# and rewrite their manifest of sha384 hashes; the versions are pinned in server/graphiql/refresh.py.
graphiql-assets: $(STAMP)
	$(BIN)/python -m server.graphiql.refresh

# The reference frontend (web/): npm ci, operation types from schema.graphql (graphql-codegen),
# tsc, vite build into server/web/dist/, then the stamp of its sources there (a test fails when
# the build is stale). Needs Node 20.19+ and npm; `make run` serves the committed build.
web: $(STAMP)
	npm ci --prefix web --no-audit --no-fund
	npm run --prefix web build
	$(BIN)/python -m server.web.stamp

clean:
	rm -rf $(VENV) var
